// Drag locks across nodes (SPEC §5, §12; issue 13 item 3), PostgreSQL only: two servers on one
// database. A node mirrors the database's drag locks in memory from the order_locked /
// order_unlocked events it delivers, but a lock taken before the node had the tenant's room
// (the node started later, or had no member of the tenant yet) was never delivered to it: its
// mirror lacked the lock and a move through it passed the holder's lock. The room's making
// now loads the tenant's live locks into the mirror (server/room.c room_locks_load).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, until, BACKEND } from './lib.mjs';

const PG = BACKEND === 'postgresql' ? false : 'needs PostgreSQL (PB_TEST_PG): two nodes on one database';
const servers = [];
after(async () => { for (const s of servers.reverse()) await s.stop(); });

test('a node that makes the room after a lock was taken elsewhere refuses the move with 423', { skip: PG }, async () => {
  const a = await startServer();
  servers.push(a);
  const sched = await a.token('scheduler');
  const board = (await a.board(sched)).body;
  const id = (board.workCentres.flatMap((w) => w.orders)[0] ?? board.backlog[0]).id;
  const to = board.workCentres.at(-1).id;
  const held = await a.req('POST', `/api/orders/${id}/start-move`, { token: sched });
  assert.equal(held.status, 200, held.text);
  // node B: the same database and token key, started after the lock was taken
  const b = await startServer({ config: { database: { url: a.pgUrl() },
    auth: { jwt_secret_file: join(a.dir, 'jwt.secret') } } });
  servers.push(b);
  const admin = await b.token('admin');
  const c = await b.ws(admin);                // B makes the tenant's room now
  const m = await b.req('PUT', `/api/orders/${id}/move`, { token: admin, json: { toWorkCentreId: to, position: 0 } });
  assert.equal(m.status, 423, `a move through B passed scheduler's lock: ${m.text}`);
  assert.equal(m.body.code, 'locked');
  assert.equal(m.body.lockedBy.username, 'scheduler');
  c.close();
  // the holder's end (through A) reaches B's mirror too: then B moves it
  const end = await a.req('POST', `/api/orders/${id}/end-move`, { token: sched });
  assert.ok(end.status === 200 || end.status === 204, end.text);
  await b.settled();
  await a.settled();
  await until(async () => (await b.req('PUT', `/api/orders/${id}/move`, { token: admin, json: { toWorkCentreId: to, position: 0 } })).status === 200,
    { timeout: 5000, what: 'the move through B once the lock ended' });
});

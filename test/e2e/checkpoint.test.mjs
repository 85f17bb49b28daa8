// WAL checkpoints off the loop (issue 9 item 3, store/checkpoint.h): the loop's connection has
// wal_autocheckpoint = 0; a thread with its own connection checkpoints at 1,000
// WAL pages and every 250 ms. Under steady writes the checkpoint counter of /metrics advances and the
// WAL file stays bounded, in both [database] synchronous modes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, until, SQLITE_ONLY } from './lib.mjs';

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

for (const synchronous of ['NORMAL', 'FULL']) {
  // SQLite only: SQLite's WAL file and its checkpoints (PostgreSQL checkpoints by itself).
  test(`synchronous=${synchronous}: checkpoints advance under steady moves, the WAL stays bounded`, { skip: SQLITE_ONLY }, async () => {
    const srv = await startServer({ config: { database: { synchronous } } });
    try {
      const token = await srv.token('scheduler');
      const { list } = await srv.workCentres(token);
      const board = (await srv.board(token)).body;
      const orders = [...board.backlog, ...board.workCentres.flatMap((w) => w.orders)];
      const m0 = (await srv.req('GET', '/metrics')).text;
      const c0 = metric(m0, 'planboard_wal_checkpoints_total');
      assert.equal(typeof c0, 'number', 'the counter is exported');
      const walPath = join(srv.dir, 'pb.db-wal');
      let maxWal = 0;
      const N = 1000;                                 // > 28 MiB of WAL frames
      for (let i = 0; i < N; i++) {
        const o = orders[i % orders.length];
        const to = list[i % list.length].id;
        const r = await srv.req('PUT', `/api/orders/${o.id}/move`, { token, json: { toWorkCentreId: to } });
        assert.equal(r.status, 200, r.text);
        if (i % 50 === 0) maxWal = Math.max(maxWal, statSync(walPath).size);
      }
      await until(async () => metric((await srv.req('GET', '/metrics')).text,
        'planboard_wal_checkpoints_total') > c0, { timeout: 10000, what: 'a checkpoint' });
      maxWal = Math.max(maxWal, statSync(walPath).size);
      // 1,000 moves write about 28 MiB of WAL frames without checkpoints (each move
      // touches the order, its column's positions, the audit row, its indexes, the summaries)
      assert.ok(maxWal < 16 * 1024 * 1024, `WAL reached ${maxWal} bytes`);
      const m1 = (await srv.req('GET', '/metrics')).text;
      assert.ok(metric(m1, 'planboard_wal_bytes') >= 0);
    } finally {
      await srv.stop();
    }
  });
}

#!/usr/bin/env node
// Watch a planboard room: prints every event the board receives.
//   node scripts/watch-board.mjs <accessToken> [http://127.0.0.1:8080]
import WebSocket from 'ws';

const [token, base = 'http://127.0.0.1:8080'] = process.argv.slice(2);
if (!token) {
  console.error('usage: node scripts/watch-board.mjs <accessToken> [base url]');
  process.exit(2);
}
const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`);
ws.on('open', () => ws.send(JSON.stringify({ event: 'join_planning_board', ref: 'join', data: {} })));
ws.on('message', (m) => console.log(m.toString()));
ws.on('unexpected-response', (_req, res) => { console.error(`refused: HTTP ${res.statusCode}`); process.exit(1); });
ws.on('close', (code) => { console.error(`closed ${code}`); process.exit(0); });

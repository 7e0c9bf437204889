// The example app: a tiny HTTP server that says which machine answered.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const message = process.env.MESSAGE ?? 'Hello from hangar!';
const machine = process.env.FLY_MACHINE_ID ?? 'local';
const region = process.env.FLY_REGION ?? 'local';

const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${message} (machine ${machine}, region ${region})\n`);
});

server.listen(port, '127.0.0.1', () => console.log(`hello listening on ${port}`));

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.log(`${sig}: shutting down`);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}

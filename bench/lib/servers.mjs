// Servers for the benchmarks: a process listening on a local port, ready once `readyPath` answers 200.
import { spawn } from 'node:child_process';

export function randomPort() {
  return 18000 + Math.floor(Math.random() * 1000);
}

/** Starts `cmd args` (which listens on `port`) and waits until GET readyPath answers 200. */
export async function startHttpServer(kind, cmd, args, port, readyPath) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${kind} server exited: ${stderr}`);
    try {
      if ((await fetch(`${url}${readyPath}`)).ok) return { url, kind, pid: child.pid, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${kind} server did not become ready: ${stderr}`);
}

/** The JSON messages of a streamed OpenAI response (server-sent events), as they arrive. */
export async function* sseMessages(res) {
  let buf = '';
  const decoder = new TextDecoder();
  for await (const part of res.body) {
    buf += decoder.decode(part, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line.startsWith('data: ') && line !== 'data: [DONE]') yield JSON.parse(line.slice(6));
    }
  }
}

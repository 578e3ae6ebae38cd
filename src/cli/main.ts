import { UsageError } from './args.js';
import { benchCommand, benchUsage } from './bench.js';
import { chatCommand, chatUsage } from './chat.js';
import { embedCommand, embedUsage } from './embed.js';
import { logitsCommand, logitsUsage } from './logits.js';
import { modelsCommand, modelsUsage } from './models.js';
import { pullCommand, pullUsage } from './pull.js';
import { serveCommand, serveUsage } from './serve.js';

const commands: Record<string, { run: (argv: string[]) => Promise<void>; usage: string }> = {
  logits: { run: logitsCommand, usage: logitsUsage },
  bench: { run: benchCommand, usage: benchUsage },
  pull: { run: pullCommand, usage: pullUsage },
  models: { run: modelsCommand, usage: modelsUsage },
  serve: { run: (argv) => serveCommand(argv), usage: serveUsage },
  embed: { run: embedCommand, usage: embedUsage },
  chat: { run: (argv) => chatCommand(argv), usage: chatUsage },
};

function usage(): string {
  return ['usage:', ...Object.values(commands).map((c) => '  ' + c.usage.split('\n').join('\n  '))].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 1;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`predict-otron: unknown command '${name}'\n${usage()}\n`);
    return 1;
  }
  try {
    await cmd.run(rest);
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string };
    // Argument mistakes and bad files get one line; anything else keeps its stack for a bug report.
    const expected = err instanceof UsageError || e.code?.startsWith('ERR_');
    process.stderr.write(`predict-otron ${name}: ${expected ? e.message : (e.stack ?? String(err))}\n`);
    if (err instanceof UsageError) process.stderr.write(cmd.usage + '\n');
    return 1;
  }
}

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { families, gemma3VocabModel, modelDir, root, tinyModel, weightTypes } from './helpers/models.js';

// Generates the tiny models the tests use (seconds; deterministic from the seed).
export default function setup(): void {
  execFileSync('node', [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit' });
  fs.mkdirSync(modelDir, { recursive: true });
  for (const family of families) {
    for (const type of weightTypes) {
      const out = tinyModel(family, type);
      if (fs.existsSync(out)) continue;
      execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', family, '--preset', 'tiny',
        '--type', type, '--seed', '1', '--out', out + '.tmp'], { stdio: 'inherit' });
      fs.renameSync(out + '.tmp', out);
    }
  }
  // the real Gemma 3 vocabulary in a tiny model (tokenizer tests); q8_0 keeps it near 25 MB
  if (!fs.existsSync(gemma3VocabModel)) {
    execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', 'gemma3', '--preset', 'tiny',
      '--type', 'q8_0', '--vocab', 'gemma3', '--seed', '1', '--out', gemma3VocabModel + '.tmp'], { stdio: 'inherit' });
    fs.renameSync(gemma3VocabModel + '.tmp', gemma3VocabModel);
  }
}

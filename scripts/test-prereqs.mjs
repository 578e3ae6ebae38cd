#!/usr/bin/env node
// What `npm test` needs from the system besides Node and Python: Debian's chromium (the chat
// page's tests drive it) and tmux (the terminal chat's tests run it in a pseudo-terminal).
// Missing ones are installed with apt-get when this runs as root on Debian, as on a fresh
// development or CI machine; otherwise it says what to install. kubectl (its built-in kustomize
// renders the Kubernetes manifests the tests check) is not in Debian in a version that has
// kustomize components, so it is only checked for.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const needs = [
  { pkg: 'chromium', present: () => fs.existsSync('/usr/bin/chromium') },
  { pkg: 'tmux', present: () => onPath('tmux') },
];

function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (!onPath('kubectl')) {
  console.error('npm test needs kubectl (1.21 or later; its built-in kustomize renders deploy/k8s for test/deploy-k8s.test.ts): ' +
    'install it from the Kubernetes project\'s packages');
  process.exit(1);
}

const missing = needs.filter((n) => !n.present()).map((n) => n.pkg);
if (missing.length === 0) process.exit(0);
const canInstall = process.getuid?.() === 0 && onPath('apt-get');
if (!canInstall) {
  console.error(`npm test needs ${missing.join(' and ')}: install ${missing.length > 1 ? 'them' : 'it'} (Debian: apt-get install ${missing.join(' ')})`);
  process.exit(1);
}
console.error(`installing ${missing.join(', ')} from Debian for the tests`);
execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
execFileSync('apt-get', ['install', '-y', '-q', ...missing], { stdio: 'inherit' });

// The chat page in real Chromium (Debian's, driven by playwright-core) against the real server and a
// tiny model, found by the accessible names a person with a screen reader would use. Screenshots
// of the main states go to test/.output/webui/.
import fs from 'node:fs';
import path from 'node:path';

import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadEmbedder } from '../src/engine/embedder.js';
import { type LanguageModel, loadModel } from '../src/engine/language-model.js';
import { createApp } from '../src/server/app.js';
import { startServer } from '../src/server/start.js';
import { encoderModels, gemma3VocabModel, root } from './helpers/models.js';
import { startTestServer, type TestServer, waitFor } from './helpers/server.js';

const shots = path.join(root, 'test', '.output', 'webui');
let browser: Browser;
let t: TestServer;

beforeAll(async () => {
  fs.mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  t = await startTestServer(gemma3VocabModel, { contextSize: 512, parallel: 2 }, { modelId: 'tiny' });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** A fresh browser context (its own storage) on the server's page; requests off this server are recorded. */
async function open(url: string, viewport = { width: 1100, height: 800 }): Promise<{ page: Page; foreign: string[]; dialogs: string[] }> {
  const context = await browser.newContext({ viewport });
  // short replies unless a test asks for more (the tiny model would otherwise write 1,024 tokens)
  await context.addInitScript(() => {
    if (!localStorage.getItem('potron.settings')) localStorage.setItem('potron.settings', JSON.stringify({ maxTokens: 48 }));
  });
  const page = await context.newPage();
  const foreign: string[] = [];
  const dialogs: string[] = [];
  const origin = new URL(url).origin;
  page.on('request', (r) => {
    if (!r.url().startsWith(origin)) foreign.push(r.url());
  });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    if (d.type() !== 'prompt') void d.dismiss(); // a prompt (rename) is the test's to answer
  });
  await page.goto(url);
  return { page, foreign, dialogs };
}

async function metric(name: RegExp): Promise<string> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  return text.split('\n').filter((l) => name.test(l)).join('\n');
}

describe('the chat page', () => {
  it('sends a message and streams the reply in, with its numbers; a reload keeps the conversation', async () => {
    const { page, foreign } = await open(`${t.url}/`);
    await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('tiny');
    await page.getByRole('textbox', { name: 'Message' }).fill('Hello there');
    await page.getByRole('button', { name: 'Send' }).click();
    const reply = page.getByRole('article').first();
    await reply.getByText(/tokens · [\d.]+ tokens\/s · first token in \d+ ms/).waitFor();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    const text = (await reply.locator('.body').innerText()).trim();
    expect(text.length).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(shots, 'reply.png') });
    expect(foreign).toEqual([]); // nothing from elsewhere: no CDN, no fonts

    await page.reload();
    await expect.poll(() => page.getByRole('article').count()).toBe(1);
    expect((await page.getByRole('article').first().locator('.body').innerText()).trim()).toBe(text);
    await expect.poll(() => page.getByRole('button', { name: /^Hello there/ }).count()).toBe(1); // the conversation's title
    await page.context().close();
  });

  it('Stop aborts the request: the server counts it cancelled and stops generating; Escape does the same', async () => {
    const { page } = await open(`${t.url}/`);
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByLabel('Max tokens').fill('400');
    await page.getByLabel('Temperature').fill('1');
    const before = t.model.stats().generatedTokens;
    await page.getByRole('textbox', { name: 'Message' }).fill('Tell me a long story.');
    await page.getByRole('textbox', { name: 'Message' }).press('Enter');
    await waitFor(() => t.model.stats().generatedTokens > before + 5, 'the reply to be under way');
    // the numbers show while it streams
    await page.getByRole('article').first().getByText(/tokens · [\d.]+ tokens\/s · first token in \d+ ms/).waitFor();
    expect(await page.getByRole('button', { name: 'Stop' }).count()).toBe(1);
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByText('(stopped)').waitFor();
    await waitFor(() => t.model.stats().active === 0, 'the server to stop generating', 5000);
    expect(t.model.stats().generatedTokens - before).toBeLessThan(400);
    await expect.poll(() => metric(/http_requests_total\{.*route="\/v1\/chat\/completions".*status="499"/)).toMatch(/ [1-9]\d*$/);
    await page.screenshot({ path: path.join(shots, 'stopped.png') });
    // Escape in the message box stops a reply too
    const again = t.model.stats().generatedTokens;
    await page.getByRole('textbox', { name: 'Message' }).fill('Tell me another long story.');
    await page.getByRole('textbox', { name: 'Message' }).press('Enter');
    await waitFor(() => t.model.stats().generatedTokens > again + 5, 'the second reply to be under way');
    await page.getByRole('textbox', { name: 'Message' }).press('Escape');
    await expect.poll(() => page.getByText('(stopped)').count()).toBe(2);
    await waitFor(() => t.model.stats().active === 0, 'the server to stop generating again', 5000);
    await page.context().close();
  });

  it('a reply holding HTML and a javascript: link renders inert: no script, no dialog, no request', async () => {
    const { page, foreign, dialogs } = await open(`${t.url}/`);
    const evil = 'Look: <img src=x onerror="alert(1)"> and <script>alert(2)</script> and [click](javascript:alert(3)) ' +
      'and ![pic](https://example.com/track.png)\n\n```js\nconsole.log("<b>hi</b>")\n```';
    await page.evaluate((content) => {
      localStorage.setItem('potron.conversations', JSON.stringify([{
        id: 'c1', title: 'evil', created: 0,
        messages: [{ role: 'user', content: 'show me' }, { role: 'assistant', content }],
      }]));
    }, evil);
    await page.reload();
    const reply = page.getByRole('article').first();
    await reply.waitFor();
    expect(await reply.locator('img, script, iframe, object').count()).toBe(0);
    expect(await reply.locator('a[href^="javascript:" i]').count()).toBe(0);
    expect(await reply.locator('[onerror], [onclick]').count()).toBe(0);
    await expect.poll(() => reply.innerText()).toContain('<img src=x onerror="alert(1)">'); // shown as text
    await reply.getByText('[click](javascript:alert(3))').waitFor();
    expect(await reply.locator('pre code').innerText()).toContain('console.log("<b>hi</b>")');
    await reply.getByRole('link', { name: '[pic]' }).waitFor(); // an image is a link, not a fetch
    expect(dialogs).toEqual([]);
    expect(foreign).toEqual([]);
    await page.screenshot({ path: path.join(shots, 'inert.png') });
    // the copy buttons: a code block's code, a message's Markdown source
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.url });
    await reply.getByRole('button', { name: 'Copy code' }).click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe('console.log("<b>hi</b>")\n');
    await reply.getByRole('button', { name: 'Copy', exact: true }).click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(evil);
    await page.context().close();
  });

  it('a 4xx from the server is shown with its message, and Retry sends again', async () => {
    const { page } = await open(`${t.url}/`);
    await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('tiny');
    await page.getByRole('textbox', { name: 'Message' }).fill('lighthouse '.repeat(800)); // past the 512-token context
    await page.getByRole('button', { name: 'Send' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/tokens/);
    await page.screenshot({ path: path.join(shots, 'error.png') });
    await alert.getByRole('button', { name: 'Retry' }).click();
    await alert.waitFor(); // the same answer again
    await page.context().close();
  });

  it('asks for the API key when the server wants one, keeps it and sends it as Bearer', async () => {
    const keyed = await startTestServer(gemma3VocabModel, { contextSize: 256, parallel: 1 }, { modelId: 'tiny', apiKeys: ['s3cret'] });
    try {
      const { page } = await open(`${keyed.url}/`);
      const key = page.getByLabel('API key');
      await key.waitFor();
      await page.screenshot({ path: path.join(shots, 'api-key.png') });
      await key.fill('s3cret');
      await page.getByRole('button', { name: 'Save key' }).click();
      await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('tiny');
      const sent = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
      await page.getByRole('textbox', { name: 'Message' }).fill('Hi');
      await page.getByRole('button', { name: 'Send' }).click();
      expect((await sent).headers().authorization).toBe('Bearer s3cret');
      await page.getByRole('article').first().getByText(/tokens\/s/).waitFor();
      await page.reload(); // kept in the browser
      await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('tiny');
      expect(await page.getByLabel('API key').count()).toBe(0);
      await page.context().close();
    } finally {
      await keyed.close();
    }
  });

  it('follows the system\'s dark theme', async () => {
    const context = await browser.newContext({ colorScheme: 'dark' });
    const page = await context.newPage();
    await page.goto(`${t.url}/`);
    await page.getByRole('textbox', { name: 'Message' }).waitFor();
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(21, 21, 23)');
    await page.screenshot({ path: path.join(shots, 'dark.png') });
    await context.close();
    const light = await browser.newContext({ colorScheme: 'light' });
    const p2 = await light.newPage();
    await p2.goto(`${t.url}/`);
    await p2.getByRole('textbox', { name: 'Message' }).waitFor();
    expect(await p2.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(255, 255, 255)');
    await light.close();
  });

  it('works at 375 px: nothing wider than the screen, the message box and Send in reach', async () => {
    const { page } = await open(`${t.url}/`, { width: 375, height: 740 });
    await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('tiny');
    await page.getByRole('textbox', { name: 'Message' }).fill('Hi');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('article').first().getByText(/tokens\/s/).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    for (const el of [page.getByRole('textbox', { name: 'Message' }), page.getByRole('button', { name: 'Send' })]) {
      const box = (await el.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(375);
    }
    await page.screenshot({ path: path.join(shots, 'phone.png'), fullPage: true });
    await page.context().close();
  });

  it('settings and presets are sent and kept; Shift+Enter adds a line; regenerate and edit-and-resend', async () => {
    const { page } = await open(`${t.url}/`);
    await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('tiny');
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByLabel('System prompt').fill('Be brief.');
    await page.getByRole('button', { name: 'Precise' }).click();
    await page.getByLabel('Max tokens').fill('16');
    const box = page.getByRole('textbox', { name: 'Message' });
    await box.fill('line one');
    await box.press('Shift+Enter');
    await box.pressSequentially('line two');
    expect(await box.inputValue()).toBe('line one\nline two');
    let sent = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
    await box.press('Enter');
    const body = (await sent).postDataJSON() as { messages: Array<{ role: string; content: string }>; temperature: number; top_p: number; max_tokens: number };
    expect(body).toMatchObject({ temperature: 0.2, top_p: 0.9, max_tokens: 16 });
    expect(body.messages).toEqual([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'line one\nline two' }]);
    await page.getByRole('button', { name: 'Regenerate' }).waitFor();

    sent = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
    await page.getByRole('button', { name: 'Regenerate' }).click();
    expect(((await sent).postDataJSON() as typeof body).messages).toEqual(body.messages);
    await page.getByRole('button', { name: 'Regenerate' }).waitFor();
    expect(await page.getByRole('article').count()).toBe(1);

    await page.getByRole('button', { name: 'Edit' }).click();
    expect(await box.inputValue()).toBe('line one\nline two');
    expect(await page.getByRole('article').count()).toBe(0); // the question and its reply leave together
    await box.fill('an edited question');
    sent = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
    await box.press('Enter');
    expect(((await sent).postDataJSON() as typeof body).messages.at(-1)).toEqual({ role: 'user', content: 'an edited question' });
    await page.getByRole('button', { name: 'Regenerate' }).waitFor();

    await page.reload(); // settings are kept per browser
    await page.getByRole('button', { name: 'Settings' }).click();
    expect(await page.getByLabel('System prompt').inputValue()).toBe('Be brief.');
    expect(await page.getByLabel('Max tokens').inputValue()).toBe('16');
    await page.context().close();
  });

  it('conversations: new, rename, delete, export and import as JSON', async () => {
    const { page } = await open(`${t.url}/`);
    await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('tiny');
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByLabel('Max tokens').fill('4');
    await page.getByRole('textbox', { name: 'Message' }).fill('first question');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('article').first().getByText(/tokens\/s/).waitFor();
    page.once('dialog', (d) => void d.accept('Renamed chat'));
    await page.getByRole('button', { name: 'Rename first question' }).click();
    await page.getByRole('button', { name: 'Renamed chat', exact: true }).waitFor();
    await page.getByRole('button', { name: 'New chat' }).click();
    expect(await page.getByRole('article').count()).toBe(0);

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export' }).click();
    const file = path.join(shots, 'export.json');
    await (await download).saveAs(file);
    const exported = JSON.parse(fs.readFileSync(file, 'utf8')) as Array<{ title: string; messages: unknown[] }>;
    expect(exported.map((c) => c.title)).toEqual(['New chat', 'Renamed chat']);
    expect(exported[1]!.messages).toHaveLength(2);

    await page.getByRole('button', { name: 'Delete Renamed chat' }).click();
    expect(await page.getByRole('button', { name: 'Renamed chat', exact: true }).count()).toBe(0);
    await page.getByLabel('Import conversations').setInputFiles(file);
    await page.getByRole('button', { name: 'Renamed chat', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Renamed chat', exact: true }).click();
    expect(await page.getByRole('article').count()).toBe(1);
    fs.writeFileSync(path.join(shots, 'bad.json'), '{"nope": 1}');
    await page.getByLabel('Import conversations').setInputFiles(path.join(shots, 'bad.json'));
    await page.getByRole('alert').getByText(/could not import bad.json/).waitFor();
    await page.context().close();
  });

  it('a banner while the model loads and while the server cannot be reached; the page recovers', async () => {
    let resolve!: (m: LanguageModel) => void;
    const model = new Promise<LanguageModel>((r) => (resolve = r));
    const server = await startServer({ model, modelId: 'late', port: 0, logger: false });
    const { page } = await open(`${server.url}/`);
    try {
      await page.getByRole('status').getByText(/loading its model/).waitFor();
      await page.screenshot({ path: path.join(shots, 'loading.png') });
      resolve(await loadModel(gemma3VocabModel, { contextSize: 256, parallel: 1 }));
      await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('late');
      expect(await page.getByRole('status').count()).toBe(0);
    } finally {
      await server.close(1000);
    }
    // the server is gone: sending says so, and a banner stays until it is back
    await page.getByRole('textbox', { name: 'Message' }).fill('anyone there?');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('alert').getByText(/could not be reached/).waitFor();
    await page.getByRole('status').getByText(/cannot be reached/).waitFor();
    await page.context().close();
  });

  it('works mounted under a prefix of another app (createApp)', async () => {
    // an embedding model beside the chat model: the picker lists chat models only
    const emb = await loadEmbedder(encoderModels[0]!.gguf, { threads: 1 });
    const served = createApp({ model: t.model, modelId: 'tiny', logger: false, embeddings: [{ model: emb, id: 'emb' }] });
    const parent = new Hono();
    parent.get('/', (c) => c.text('the parent app'));
    parent.route('/chat', served.app);
    const server = serve({ fetch: parent.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    try {
      const { page, foreign } = await open(`http://127.0.0.1:${port}/chat`);
      expect(page.url()).toBe(`http://127.0.0.1:${port}/chat/index.html`);
      await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('tiny');
      expect(await page.getByRole('combobox', { name: 'Model' }).locator('option').allInnerTexts()).toEqual(['tiny']);
      await page.getByRole('button', { name: 'Settings' }).click();
      await page.getByLabel('Max tokens').fill('4');
      const sent = page.waitForRequest((r) => r.url().includes('/v1/chat/completions'));
      await page.getByRole('textbox', { name: 'Message' }).fill('Hi');
      await page.getByRole('button', { name: 'Send' }).click();
      expect((await sent).url()).toBe(`http://127.0.0.1:${port}/chat/v1/chat/completions`);
      await page.getByRole('article').first().getByText(/tokens\/s/).waitFor();
      expect(foreign).toEqual([]);
      await page.context().close();
    } finally {
      await new Promise((r) => server.close(r));
      await emb.close();
    }
  });

  it('--no-webui / webui: false: no page, the API as before; the page ships in the npm package', async () => {
    const bare = await startServer({ model: t.model, modelId: 'tiny', port: 0, logger: false, webui: false, closeModel: false });
    try {
      const res = await fetch(`${bare.url}/`);
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe('unknown_url');
      expect((await fetch(`${bare.url}/v1/models`)).status).toBe(200);
    } finally {
      await bare.close(1000);
    }
    const { execFileSync } = await import('node:child_process');
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>;
    const files = packed[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/webui/index.html');
    expect(files.some((f) => /^dist\/webui\/assets\/index-[\w-]+\.js$/.test(f))).toBe(true);
    expect(files.some((f) => f.startsWith('webui/'))).toBe(false); // the sources stay out
  });

  it('a server that goes away mid-reply: the reply ends with a readable error and Retry', async () => {
    const model = await loadModel(gemma3VocabModel, { contextSize: 1024, parallel: 1 });
    const server = await startServer({ model, modelId: 'tiny', port: 0, logger: false });
    const { page } = await open(`${server.url}/`);
    try {
      await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('tiny');
      await page.getByRole('button', { name: 'Settings' }).click();
      await page.getByLabel('Max tokens').fill('800');
      await page.getByLabel('Temperature').fill('1');
      await page.getByRole('textbox', { name: 'Message' }).fill('Tell me a long story.');
      await page.getByRole('button', { name: 'Send' }).click();
      await waitFor(() => model.stats().generatedTokens > 10, 'the reply to be under way');
    } finally {
      await server.close(0); // streams in flight are cut
    }
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect((await alert.innerText()).length).toBeGreaterThan(10);
    await alert.getByRole('button', { name: 'Retry' }).waitFor();
    await page.getByRole('button', { name: 'Send' }).waitFor(); // no longer busy
    await page.context().close();
  });
});

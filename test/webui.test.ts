// The chat page in real Chromium (Debian's, driven by playwright-core) against the real server and a
// tiny model, found by the accessible names a person with a screen reader would use. Screenshots
// of the main states go to test/.output/webui/.
import fs from 'node:fs';
import path from 'node:path';

import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { gemma3VocabModel, root } from './helpers/models.js';
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
  const page = await context.newPage();
  const foreign: string[] = [];
  const dialogs: string[] = [];
  const origin = new URL(url).origin;
  page.on('request', (r) => {
    if (!r.url().startsWith(origin)) foreign.push(r.url());
  });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
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
});

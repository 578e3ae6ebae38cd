// Markdown for replies: raw HTML is shown as text (markdown-it html: false), links only to
// http(s) and mailto, images shown as links (a reply must not make the browser fetch anything),
// code highlighted by highlight.js (whose output is escaped), a Copy button on each code block.
import hljs from 'highlight.js/lib/common';
import MarkdownIt from 'markdown-it';

const SAFE_LINK = /^(https?:|mailto:)/i;

const md = new MarkdownIt({
  html: false,
  linkify: true,
  breaks: false,
  highlight(code, lang) {
    if (lang && hljs.getLanguage(lang)) {
      try {
        return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
      } catch {
        // fall through to plain text
      }
    }
    return md.utils.escapeHtml(code);
  },
});

// only http(s) and mailto links become links; a relative one, javascript:, data: ... stay text
md.validateLink = (url) => SAFE_LINK.test(url.trim());

const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, i, options, env, self) => self.renderToken(tokens, i, options));
md.renderer.rules.link_open = (tokens, i, options, env, self) => {
  tokens[i].attrSet('target', '_blank');
  tokens[i].attrSet('rel', 'noopener noreferrer');
  return defaultLinkOpen(tokens, i, options, env, self);
};

md.renderer.rules.image = (tokens, i) => {
  const src = tokens[i].attrGet('src') ?? '';
  const alt = md.utils.escapeHtml(tokens[i].content || 'image');
  return SAFE_LINK.test(src)
    ? `<a href="${md.utils.escapeHtml(src)}" target="_blank" rel="noopener noreferrer">[${alt}]</a>`
    : `[${alt}]`;
};

const defaultFence = md.renderer.rules.fence;
md.renderer.rules.fence = (tokens, i, options, env, self) =>
  `<div class="code"><button type="button" class="copy" data-copy-code>Copy code</button>${defaultFence(tokens, i, options, env, self)}</div>`;

export function renderMarkdown(text) {
  return md.render(text);
}

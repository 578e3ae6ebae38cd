import { render } from 'preact';
import { html } from 'htm/preact';

import { App } from './app.js';
import 'highlight.js/styles/github.css';
import './style.css';

render(html`<${App} />`, document.getElementById('app'));

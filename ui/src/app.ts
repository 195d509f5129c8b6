import { ApiError, forgetKey, saveKey, storedKey } from './api.ts';
import { esc } from './format.ts';
import { renderModel } from './pages/model.ts';
import { renderModels } from './pages/models.ts';
import { listen, navigate, readState, type ViewState } from './state.ts';

/** The web UI at /ui: the models page, or one model's page, as the URL says. */
const root = document.getElementById('app')!;
let generation = 0;

async function render(state: ViewState): Promise<void> {
  // A slower answer for a view the user has already left must not draw over the new one.
  const mine = ++generation;
  const current = () => mine === generation;
  // `opened`: the page is usable (for a model: header, heatmap and ranked table);
  // `ready`: everything it asked for is drawn. bench/ui.ts times both.
  document.body.dataset.opened = 'false';
  document.body.dataset.ready = 'false';
  const opened = () => {
    if (current()) document.body.dataset.opened = 'true';
  };
  try {
    if (state.model) await renderModel(root, state, current, opened);
    else await renderModels(root, current);
    opened();
    if (current()) document.body.dataset.ready = 'true';
  } catch (err) {
    if (!current()) return;
    if (err instanceof ApiError && err.status === 401) return askForKey(storedKey() ? 'That key was refused. ' : '');
    const message = err instanceof ApiError ? `${err.message} (${err.code})` : String((err as Error).message ?? err);
    root.innerHTML = `<p class="error">${esc(message)}</p>${
      err instanceof ApiError && err.status === 403 ? '<p><button type="button" id="other-key">Use another key</button></p>' : ''
    }<p><a href="/ui" data-nav>all models</a></p>`;
    root.querySelector('#other-key')?.addEventListener('click', () => {
      forgetKey();
      askForKey('');
    });
    document.body.dataset.opened = 'true';
    document.body.dataset.ready = 'true';
  }
}

/** With keys configured the API answers 401 without one: the page asks for a read key, once per tab. */
function askForKey(note: string): void {
  root.innerHTML = `<form class="key" id="key-form">
    <h1>driftwatch</h1>
    <p>${esc(note)}This service needs an API key with the <b>read</b> scope.</p>
    <label>API key<input type="password" name="key" autocomplete="off" required autofocus></label>
    <button type="submit">Open</button>
    <p class="muted">Kept in this tab only (sessionStorage) and sent as an Authorization header; never put in a link.</p>
  </form>`;
  document.body.dataset.opened = 'true';
  document.body.dataset.ready = 'true';
  root.querySelector<HTMLFormElement>('#key-form')!.addEventListener('submit', (e) => {
    e.preventDefault();
    const key = ((e.target as HTMLFormElement).elements.namedItem('key') as HTMLInputElement).value.trim();
    if (!key) return;
    saveKey(key);
    void render(readState());
  });
}

// Links inside the UI change the view without reloading the page.
document.addEventListener('click', (e) => {
  const a = (e.target as Element).closest<HTMLAnchorElement>('a[href^="/ui"]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  const url = new URL(a.href);
  history.pushState(null, '', url.pathname + url.search);
  void render(readState());
});

listen((state) => void render(state));
void render(readState());

import { get } from '../api.ts';
import { esc, int, num, pct, time } from '../format.ts';
import { stateUrl } from '../state.ts';
import type { ModelRow } from '../types.ts';

/** Every model the key may read, with what it is doing now. */
export async function renderModels(root: HTMLElement, current: () => boolean): Promise<void> {
  root.innerHTML = `<header class="top"><h1>driftwatch</h1><p class="muted">Models</p></header><p class="muted">Loading…</p>`;
  const { models } = await get<{ models: ModelRow[] }>('/v1/models', { include: 'summary' });
  if (!current()) return;
  const rows = models
    .map((m) => {
      const s = m.summary;
      const last = s?.last_window;
      const drifted = last?.drifted_features ?? [];
      return `<tr data-model="${esc(m.model)}">
        <td><a href="${esc(stateUrl({ model: m.model }))}">${esc(m.model)}</a></td>
        <td>${s ? num(s.event_rate_per_s, 1) : '–'}</td>
        <td>${int(m.events)}</td>
        <td>${last ? `${esc(time(last.from))} <span class="muted">(${int(last.n_events)} events)</span>` : '<span class="muted">none yet</span>'}</td>
        <td class="drifted-now">${last ? (drifted.length ? `<b>${drifted.length}</b> ${drifted.slice(0, 4).map((f) => `<span class="pill bad">${esc(f)}</span>`).join('')}${drifted.length > 4 ? ' …' : ''}` : '0') : '–'}</td>
        <td>${s?.firing_alerts == null ? '–' : s.firing_alerts > 0 ? `<span class="verdict drifted">${s.firing_alerts} firing</span>` : '0'}</td>
        <td>${pct(s?.label_coverage)}</td>
        <td>${esc(time(m.last_event))}</td>
      </tr>`;
    })
    .join('');
  root.innerHTML = `<header class="top"><h1>driftwatch</h1><p class="muted">${models.length} model${models.length === 1 ? '' : 's'} with events</p></header>
    ${
      models.length === 0
        ? '<p>No model has sent events yet: POST them to <code>/v1/events</code>.</p>'
        : `<div class="table-wrap"><table class="models"><thead><tr>
          <th>model</th><th title="Over the last analysis window">events/s</th><th>events</th><th>last analysed window</th>
          <th>drifted features now</th><th>alerts</th><th title="In the newest window with performance">label coverage</th><th>last event</th>
        </tr></thead><tbody>${rows}</tbody></table></div>`
    }`;
}

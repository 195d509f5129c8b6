import type { FeatureDrift } from './types.ts';
import { COLUMNS, featureHeadHtml, featureRowHtml, NO_MATCH_HTML, tableRows, type TableState } from './window-view.ts';

/**
 * The model page's feature table, drawn a screenful at a time. With every
 * row in the page, a 500-feature model spent most of its opening in the
 * browser parsing and laying out 9,000 cells, twice (the stored window, then
 * the one computed with distributions): bench/ui.ts, docs/ui.md. Search and
 * sort still run over every feature (`tableRows`); the rows above and below
 * the scrolled view are one spacer row each, of their height, so the
 * scrollbar is the whole table's. The table says how many rows it has
 * (aria-rowcount) and each row where it is (aria-rowindex).
 */

/** Rows drawn beyond each edge of the view, so a scroll of a few rows draws nothing. */
const OVERSCAN = 25;
/** A row's height before one is measured (13 px text, 3 px padding, a 1 px border). */
const ROW_PX = 26;

class FeatureTable {
  #rows: { f: FeatureDrift; rank: number }[] = [];
  #selected: string | undefined;
  #rowPx = ROW_PX;
  #measured = false;
  /** The rows drawn now: [first, last). */
  #first = 0;
  #last = 0;
  #pending = false;

  constructor(private readonly el: HTMLElement) {
    el.addEventListener(
      'scroll',
      () => {
        if (this.#pending) return;
        this.#pending = true;
        requestAnimationFrame(() => {
          this.#pending = false;
          this.#paint(this.el.scrollTop, false);
        });
      },
      { passive: true },
    );
  }

  /** Draws the features as `state` filters and sorts them, keeping the scroll position; returns how many match. */
  show(features: FeatureDrift[], state: TableState): number {
    this.#rows = tableRows(features, state);
    this.#selected = state.selected;
    const scroll = this.el.scrollTop;
    this.el.innerHTML = `<table class="features" aria-rowcount="${this.#rows.length + 1}"><thead><tr>${featureHeadHtml(state)}</tr></thead><tbody></tbody></table>${
      this.#rows.length === 0 ? NO_MATCH_HTML : ''
    }`;
    this.#paint(scroll, true);
    this.el.scrollTop = scroll;
    return this.#rows.length;
  }

  #paint(scrollTop: number, force: boolean): void {
    const view = this.el.clientHeight || 520;
    const top = Math.floor(scrollTop / this.#rowPx);
    const bottom = Math.min(this.#rows.length, Math.ceil((scrollTop + view) / this.#rowPx) + 1);
    if (!force && top >= this.#first && bottom <= this.#last) return;
    this.#first = Math.max(0, top - OVERSCAN);
    this.#last = Math.min(this.#rows.length, bottom + OVERSCAN);
    const tbody = this.el.querySelector('tbody');
    if (!tbody) return;
    const spacer = (rows: number) =>
      rows > 0 ? `<tr class="spacer" aria-hidden="true"><td colspan="${COLUMNS.length}" style="height:${rows * this.#rowPx}px"></td></tr>` : '';
    let html = spacer(this.#first);
    for (let i = this.#first; i < this.#last; i++) html += featureRowHtml(this.#rows[i], this.#selected, i + 1);
    tbody.innerHTML = html + spacer(this.#rows.length - this.#last);
    if (!this.#measured) this.#measure(scrollTop);
  }

  /** The rows' real height (fonts differ between browsers), once: the spacers and the view's range follow it. */
  #measure(scrollTop: number): void {
    const drawn = this.el.querySelectorAll<HTMLElement>('tbody tr[data-feature]');
    if (drawn.length < 2) return;
    this.#measured = true;
    const px = (drawn[drawn.length - 1].getBoundingClientRect().bottom - drawn[0].getBoundingClientRect().top) / drawn.length;
    if (px > 0 && Math.abs(px - this.#rowPx) > 0.25) {
      this.#rowPx = px;
      this.#paint(scrollTop, true);
    }
  }
}

const tables = new WeakMap<HTMLElement, FeatureTable>();

/** The feature table drawn in `el` (the scrolling .table-wrap); returns how many features match the search. */
export function showFeatureTable(el: HTMLElement, features: FeatureDrift[], state: TableState): number {
  let table = tables.get(el);
  if (!table) tables.set(el, (table = new FeatureTable(el)));
  return table.show(features, state);
}

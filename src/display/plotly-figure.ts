/**
 * What a chart holds: a plotly figure, traces and layout as plotly.js takes them. Its own module so the
 * chart kinds (figure.ts), the Chart that displays and exports them (chart.ts), and the renderers
 * (plotly.ts, browser.ts) share the type without importing each other.
 */
export type Trace = Record<string, unknown>;
export type Layout = Record<string, unknown>;

/** A plotly figure: traces and layout, as plotly.js takes them. */
export interface Figure {
  data: Trace[];
  layout: Layout;
}

/** The report's inline style sheet: system fonts, light theme, print friendly. */
export const REPORT_CSS = `
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1220px; margin: 0 auto; padding: 24px 28px 8px; }
header { border-bottom: 1px solid var(--line); margin-bottom: 8px; }
h1 { font-size: 24px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 4px; }
p { margin: 6px 0 10px; max-width: 1100px; }
.note { color: var(--muted); font-size: 13px; }
.bad { color: #c62828; font-weight: 600; }
.table-wrap { overflow-x: auto; }
table.summary { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
table.summary th, table.summary td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
table.summary th { background: var(--soft); font-weight: 600; }
.layout, .kind { white-space: nowrap; }
table.summary td.num, table.summary th.num { text-align: right; white-space: nowrap; }
table.summary tbody tr:nth-child(even) { background: #fbfcfd; }
ul.skipped-list { margin: 4px 0 0; padding-left: 20px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 8px 0 6px; font-size: 13px; }
.key { display: inline-flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 14px; height: 14px; border-radius: 2px; border: 1px solid rgba(0,0,0,.15); }
.scroll { overflow-x: auto; }
svg { display: block; max-width: 100%; height: auto; font-family: inherit; }
svg .grid { stroke: #e6e9ec; stroke-width: 1; }
svg .tick { font-size: 11px; fill: var(--muted); }
svg .axis-title { font-size: 12px; fill: var(--muted); }
svg .rank { font-size: 12px; font-weight: 600; fill: var(--ink); }
svg .coords { font-size: 11px; fill: var(--muted); }
svg .lane { fill: #f3f4f6; }
svg .bar-label { font-size: 12px; fill: var(--ink); }
svg .bar-value { font-size: 12px; fill: var(--muted); }
svg .point-tag { font-size: 12px; font-weight: 600; fill: var(--ink); }
section.run { margin-bottom: 18px; }
footer { max-width: 1220px; margin: 16px auto 24px; padding: 8px 28px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); }
@media print { main { padding: 0; } .scroll, .table-wrap { overflow: visible; } }
`;

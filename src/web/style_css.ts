/**
 * The pages' stylesheet, served by the daemon as /static/style.css (a TS module so `deno compile` carries it;
 * the CSP allows no inline style). Light and dark follow `prefers-color-scheme`; colours keep WCAG AA
 * contrast; tables scroll sideways on a phone instead of squeezing.
 */
export const STYLE_CSS = `:root {
  --bg: #ffffff; --fg: #1a1a1a; --muted: #595959; --line: #d0d0d0; --panel: #f4f4f4;
  --link: #0645ad; --live-bg: #1d7a0a; --live-fg: #ffffff; --bad: #b00020; --ok: #1d6b0a;
  --strip-day: #ececec; --strip-live: #1d7a0a; --bar: #2f6fb3;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #121212; --fg: #ececec; --muted: #a8a8a8; --line: #3a3a3a; --panel: #1e1e1e;
    --link: #8ab4f8; --live-bg: #53fc18; --live-fg: #000000; --bad: #ff8a80; --ok: #7ee787;
    --strip-day: #262626; --strip-live: #53fc18; --bar: #8ab4f8;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header, main, footer { max-width: 72rem; margin: 0 auto; padding: 0 1rem; }
header { padding-top: .75rem; border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; text-decoration: none; color: var(--fg); }
a { color: var(--link); }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--bg); padding: .25rem .5rem; }
h1 { font-size: 1.6rem; margin: 1rem 0 .5rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: var(--muted); font-size: .9rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: .85rem; color: var(--muted); }
tbody th { font-weight: 600; }
tr.empty td { color: var(--muted); }
tr.fresh { animation: fresh 3s ease-out; }
@keyframes fresh { from { background: var(--panel); } to { background: transparent; } }
@media (prefers-reduced-motion: reduce) { tr.fresh { animation: none; } }
.muted { color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: var(--ok); }
.bad { color: var(--bad); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: .5rem; margin: 0; }
.figures div { background: var(--panel); padding: .5rem .75rem; border-radius: .4rem; }
.figures dt { font-size: .85rem; color: var(--muted); }
.figures dd { margin: 0; overflow-wrap: anywhere; }
.state { padding: .05rem .5rem; border-radius: .3rem; background: var(--panel); }
.state.online { background: var(--live-bg); color: var(--live-fg); }
.pager { margin: .5rem 0; }
.chart { margin: .75rem 0; }
.chart svg { width: 100%; height: auto; display: block; }
.chart svg.weeks { max-width: 36rem; }
.chart figcaption { font-size: .85rem; color: var(--muted); }
.strip .day { fill: var(--strip-day); }
.strip .live { fill: var(--strip-live); }
.strip .live:hover { fill: var(--link); }
.weeks .bar { fill: var(--bar); }
.weeks text { fill: var(--fg); font-size: 9px; text-anchor: middle; }
.weeks text.axis { fill: var(--muted); }
footer { margin-top: 2rem; padding-bottom: 1rem; color: var(--muted); font-size: .9rem; }
`;

"""What the browser tests share: the system chromium, the dashboard's sign-in and chart summary.

Needs Debian's chromium (``apt-get install -y chromium``) and the ``playwright`` Python
package; no browser is downloaded (``executable_path`` points at the system chromium).
The ``browser`` fixture itself is in tests/e2e/conftest.py.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("KAFKAPIPELINE_CHROMIUM", "/usr/bin/chromium"))
USER = "admin"
VIEWPORT = {"width": 1366, "height": 768}


#: Reports per chart: each dataset's label and how many of its points hold a value.
CHART_SUMMARY_JS = """
() => {
  const out = {};
  for (const [id, chart] of Object.entries(window.pipelineDashboard.charts)) {
    out[id] = {
      type: chart.config.type,
      labels: chart.data.labels ? chart.data.labels.length : 0,
      datasets: chart.data.datasets.map((d) => ({
        label: d.label,
        points: d.data.filter((v) => v !== null && v !== undefined).length,
        total: d.data.reduce((sum, v) => sum + (typeof v === "number" ? v : 0), 0),
      })),
      axes: Object.fromEntries(
        Object.entries(chart.options.scales || {}).map(([key, s]) => [key, s.title && s.title.text])
      ),
    };
  }
  return out;
}
"""

#: Per chart, each legend entry drawn over a vertical axis's title (its rotated text's extent).
LEGEND_OVER_AXIS_TITLE_JS = """
() => {
  const found = [];
  for (const [id, chart] of Object.entries(window.pipelineDashboard.charts)) {
    const items = (chart.legend && chart.legend.options.display && chart.legend.legendHitBoxes) || [];
    for (const scale of Object.values(chart.scales)) {
      const title = scale.options.title;
      if (!title || !title.display || scale.isHorizontal()) continue;
      chart.ctx.save();
      chart.ctx.font = window.Chart.helpers.toFont(title.font).string;
      const half = chart.ctx.measureText(title.text).width / 2;
      chart.ctx.restore();
      const middle = (scale.top + scale.bottom) / 2;
      items.forEach((box, index) => {
        const apart = box.left + box.width <= scale.left || box.left >= scale.right
          || box.top + box.height <= middle - half || box.top >= middle + half;
        const label = chart.legend.legendItems[index].text;
        if (!apart) found.push(`${id}: legend "${label}" over "${title.text}"`);
      });
    }
  }
  return found;
}
"""


def sign_in_and_open_dashboard(browser, base_url: str, password: str):
    """Open the dashboard's nav entry; the UI sends us to its login page first."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{base_url}/plugin/pipeline-dashboard")
    page.wait_for_url("**/auth/login**")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/plugin/pipeline-dashboard**", timeout=60_000)
    page.frame_locator("iframe[title='Dashboard']").locator(
        "body[data-state=ready], body[data-state=error]"
    ).wait_for(timeout=90_000)
    frame = next(
        frame for frame in page.frames if "/kafkapipeline/" in frame.url and frame != page.main_frame
    )
    return page, frame

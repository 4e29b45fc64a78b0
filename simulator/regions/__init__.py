"""The multi-region digital twin: regions, serving clusters, failover and residency.

``MultiRegionScenario`` is the scenario schema, ``MultiRegionRun`` one run with the
composition root's adapters, and ``build_report`` its JSON report. The HTML report is
``twinbank.simulator.regions.html.render_html``; it imports matplotlib, so it is not
imported here.
"""

from .report import build_report
from .run import MultiRegionResult, MultiRegionRun
from .scenario import MultiRegionScenario

__all__ = ["MultiRegionResult", "MultiRegionRun", "MultiRegionScenario", "build_report"]

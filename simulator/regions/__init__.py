"""The multi-region digital twin: regions, serving clusters, failover and residency.

Public API: ``MultiRegionScenario`` (the scenario schema), ``MultiRegionRun`` (one
run through the composition root's adapters), ``build_report`` and ``render_html``.
"""

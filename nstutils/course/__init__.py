"""The course layer: what the notebooks use on top of the engine.

Installed with the ``[course]`` extra (JupyterLab, ipywidgets, matplotlib). It uses only the
engine's public names, and the engine never imports it:

* :mod:`.check`: the one-line checks of the your-turn cells (a checking engine plus one module
  per notebook);
* :mod:`.measures`: distances and correlations between images (RMS, layout and detail
  correlation, content and style distance, colour statistics);
* :mod:`.paper_setup` and :mod:`.paper`: the paper's setup and its figures;
* :mod:`.explore`, :mod:`.experiments`, :mod:`.beyond`: reconstructions, grids, optimiser
  comparisons, blending and coarse-to-fine;
* :mod:`.plots` and :mod:`.widgets`: figures and the Style Lab.

``from nstutils.course import check, paper, plots, widgets`` imports the modules.
"""

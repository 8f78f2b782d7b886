#!/usr/bin/env python3
"""Photo Style for GIMP 3: Filters > Photo Style > Transfer Look...

Re-renders a layer in the look of a reference photo, as a new layer directly above it (or above the previous
result), in one undo step. The layer's pixels and the selection are read when the job starts; the selection
becomes the result's layer mask, so nothing is baked in. The reference is a photo file or a layer of an image
open in GIMP.

The plug-in's files, all GObject Introspection and the Python standard library (GIMP's bundled Python cannot import
torch, so the work is done by the photostyle engine, reached through ``photostyle serve``, a local service on
127.0.0.1 with a token in a file only the user can read):

- ``photostyle.py`` (this file): what GIMP runs; the engine client's names are re-exported for the tests.
- ``photostyle_client.py``: the engine client (wire format, service, progress words, layer names, checks).
- ``photostyle_gimp.py``: the procedure (arguments, source layer and stacking, snapshot, result layer).
- ``photostyle_dialog.py``: the dialog (checks while choosing, on-canvas preview, the automatic regions).
- ``help/``: the help page F1 and the Help button open.

``photostyle gimp install`` copies them into GIMP's plug-in folder and records where the engine lives in
``photostyle.json`` beside them. This file imports nothing from GIMP until GIMP runs it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from photostyle_client import (  # noqa: F401 - the plug-in's engine client, re-exported for the tests
    CHOICES_NAME,
    DEFAULTS,
    MASKS,
    PRESERVE,
    PROC_NAME,
    QUALITIES,
    SKIN,
    EngineError,
    Pixels,
    Progress,
    Stopped,
    find_service,
    layer_name,
    load_choices,
    load_config,
    make_request,
    merge_alpha,
    pack,
    plain,
    reference_file_problem,
    run_engine,
    save_choices,
    service_status,
    settings_dict,
    split_alpha,
    stage_words,
    start_service,
    transfer_once,
    unpack,
)


def main():
    from photostyle_gimp import run_plugin

    run_plugin(sys.argv)


if __name__ == "__main__":
    main()

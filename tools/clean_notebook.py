"""Post-process a papermill-executed notebook to the committed form: no saved widget state or
widget views (the PNG fallback stays), single-string SVG outputs, papermill paths = file name."""
import json, sys
from pathlib import Path

from fpalib.train.run_folder import write_atomically
WIDGET = "application/vnd.jupyter.widget-view+json"
for name in sys.argv[1:]:
    path = Path(name)
    nb = json.loads(path.read_text())
    nb["metadata"].pop("widgets", None)
    pm = nb["metadata"].get("papermill", {})
    for key in ("input_path", "output_path"):
        if key in pm:
            pm[key] = Path(pm[key]).name
    for cell in nb["cells"]:
        for bundle in cell.get("attachments", {}).values():
            for mime, value in bundle.items():
                if isinstance(value, list) and len(value) == 1 and mime.startswith("image/"):
                    bundle[mime] = value[0]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            data.pop(WIDGET, None)
            svg = data.get("image/svg+xml")
            if isinstance(svg, list) and len(svg) == 1:
                data["image/svg+xml"] = svg[0]
    write_atomically(path, json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")  # all or nothing

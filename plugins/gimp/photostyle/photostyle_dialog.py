"""Photo Style for GIMP 3: the dialog (imported only inside GIMP, interactive runs).

- Checks while choosing: OK stays disabled and the reason is shown (no reference, a reference that is no longer
  there, a file GIMP cannot open, the selected-object mode without a selection); an engine error after OK brings
  the dialog back with the message and the choices kept (issue 16, point 4).
- The last choices are remembered in GIMP's profile folder, whatever happened to the run.
- The reference: a photo file (a chooser with an image filter and a preview) or an image open in GIMP (point 5).
- Preview on the canvas: a temporary layer at preview quality, redone when a control changes (point 6); the
  automatic regions and their partners as an overlay on the canvas, each with its own strength (point 11).
"""

import json
import os
import threading

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
import photostyle_client as pc  # noqa: E402
import photostyle_gimp as pg  # noqa: E402
from gi.repository import GdkPixbuf, Gimp, GimpUi, Gio, GLib, GObject, Gtk  # noqa: E402

DEBOUNCE_MS = 700  # a preview starts this long after the last change
THUMB = 200


def run_dialog(procedure, image, drawables, config):
    GimpUi.init("photostyle")
    ui = Dialog(procedure, image, drawables, config)
    try:
        return ui.run()
    finally:
        ui.close()


class Dialog:
    def __init__(self, procedure, image, drawables, config):
        self.procedure, self.image, self.drawables, self.config = procedure, image, drawables, config
        self.choices_path = os.path.join(Gimp.directory(), pc.CHOICES_NAME)
        self.restore()
        single = len(drawables) == 1 and isinstance(drawables[0], Gimp.Layer) and not drawables[0].is_group_layer()
        self.source = pg.source_layer(image, drawables[0]) if single else None
        self.snap = None  # the source's pixels for previews, read when the first preview starts
        self.preview_layer = None
        self.frozen = False
        self.gen = 0  # the latest preview job; older ones stop and their results are dropped
        self.timer = None
        self.closing = False
        self.engine_error = ""

        dlg = self.dlg = GimpUi.ProcedureDialog.new(procedure, config, "Photo Style: Transfer Look")
        dlg.get_spin_scale("strength", 100.0)  # a slider, shown as 0-100 %
        dlg.fill(["reference-from", "reference-layer", "quality", "preserve-color", "strength", "skin", "masks"])
        content = dlg.get_content_area()
        self.file_row = self.file_chooser_row()
        source = dlg.get_widget("reference-from", GObject.TYPE_NONE)
        box = source.get_parent() if source is not None else None
        if isinstance(box, Gtk.Box):  # right under "Look taken from", among the dialog's own rows
            box.pack_start(self.file_row, False, False, 0)
            box.reorder_child(self.file_row, box.get_children().index(source) + 1)
        else:
            content.pack_start(self.file_row, False, False, 0)
        self.explain = self.label("", dim=True)
        content.pack_start(self.explain, False, False, 0)
        content.pack_start(self.canvas_box(), False, False, 0)
        self.problem_label = self.label("")
        content.pack_start(self.problem_label, False, False, 0)
        content.show_all()
        config.connect("notify", self.changed)
        self.update()
        self.preview_check.set_active(bool(self.last.get("canvas-preview")))
        self.regions_check.set_active(bool(self.last.get("show-regions")) and self.choices()["masks"] == "auto")

    # ------------------------------------------------------------------------------------------------ widgets
    @staticmethod
    def label(text, dim=False):
        w = Gtk.Label(label=text, xalign=0.0)
        w.set_line_wrap(True)
        w.set_max_width_chars(60)
        if dim:
            w.get_style_context().add_class("dim-label")
        return w

    def file_chooser_row(self):
        chooser = Gtk.FileChooserButton(title="Choose the reference photo", action=Gtk.FileChooserAction.OPEN)
        self.chooser = chooser
        images = Gtk.FileFilter()
        images.set_name("Images")
        images.add_pixbuf_formats()
        images.add_mime_type("image/*")
        for suffix in sorted(pc.ENGINE_SUFFIXES | {".webp", ".heic", ".avif", ".xcf", ".jxl", ".exr", ".psd"}):
            images.add_pattern("*" + suffix)
            images.add_pattern("*" + suffix.upper())
        everything = Gtk.FileFilter()
        everything.set_name("All files")
        everything.add_pattern("*")
        chooser.add_filter(images)
        chooser.add_filter(everything)
        chooser.set_filter(images)
        self.thumb = Gtk.Image()
        chooser.set_preview_widget(self.thumb)
        chooser.connect("update-preview", self.update_thumb)
        path = self.choices()["reference"]
        if path and os.path.isfile(path):
            chooser.set_filename(path)
        chooser.connect("file-set", self.file_set)
        chooser.set_tooltip_text("The photo whose look to transfer: JPEG, PNG, TIFF, RAW, or any format GIMP opens")
        row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
        lab = Gtk.Label.new_with_mnemonic("Reference _photo")
        lab.set_mnemonic_widget(chooser)
        row.pack_start(lab, False, False, 0)
        row.pack_start(chooser, True, True, 0)
        return row

    def canvas_box(self):
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        self.preview_check = Gtk.CheckButton.new_with_mnemonic("Pre_view on the canvas")
        self.preview_check.set_tooltip_text(
            "Shows the look on the image at preview quality, redone whenever a control changes; removed when the "
            "dialog closes"
        )
        self.preview_check.connect("toggled", lambda *_: self.canvas_changed())
        self.regions_check = Gtk.CheckButton.new_with_mnemonic("Sho_w the automatic regions")
        self.regions_check.set_tooltip_text(
            "Tints the photo by region on the canvas and lists which region of the reference each takes its look "
            "from, with a strength for each"
        )
        self.regions_check.connect("toggled", lambda *_: self.canvas_changed())
        self.status = self.label("", dim=True)
        self.regions_grid = Gtk.Grid(column_spacing=8, row_spacing=2)
        for w in (self.preview_check, self.regions_check, self.regions_grid, self.status):
            box.pack_start(w, False, False, 0)
        return box

    def update_thumb(self, chooser):
        path = chooser.get_preview_filename()
        try:
            pix = GdkPixbuf.Pixbuf.new_from_file_at_size(path, THUMB, THUMB) if path and os.path.isfile(path) else None
        except GLib.Error:
            pix = None
        self.thumb.set_from_pixbuf(pix)
        chooser.set_preview_widget_active(pix is not None)

    def file_set(self, chooser):
        path = chooser.get_filename()
        if path:
            self.config.set_property("reference", Gio.File.new_for_path(path))

    # ------------------------------------------------------------------------------------------------ state
    def choices(self):
        return pg.read_choices(self.config)

    def restore(self):
        """The last choices (saved whatever happened to the run) over GIMP's last successful values."""
        last = self.last = pc.load_choices(os.path.join(Gimp.directory(), pc.CHOICES_NAME))
        for key, value in last.items():
            if key in pc.CANVAS_KEYS:
                continue
            try:
                if key == "reference":
                    if value:
                        self.config.set_property("reference", Gio.File.new_for_path(value))
                else:
                    self.config.set_property(key, value)
            except (TypeError, ValueError):
                continue
        self.config.set_property("region-strength", "")  # region ids belong to one photo and reference

    def remember(self):
        c = {k: v for k, v in self.choices().items() if k != "reference-layer"}
        c["canvas-preview"] = self.preview_check.get_active()
        c["show-regions"] = self.regions_check.get_active()
        pc.save_choices(self.choices_path, c)

    def changed(self, _config, pspec):
        if pspec.name in ("region-strength",):
            self.schedule()
            return
        self.update()
        if pspec.name in ("reference", "reference-from", "reference-layer", "masks"):
            self.clear_regions()
        self.schedule()

    def update(self):
        c = self.choices()
        from_file = c["reference-from"] == "file"
        self.file_row.set_sensitive(from_file)
        layer_widget = self.dlg.get_widget("reference-layer", GObject.TYPE_NONE)
        if layer_widget is not None:
            layer_widget.set_sensitive(not from_file)
        lines = []
        for table, key in ((pc.QUALITIES, "quality"), (pc.PRESERVE, "preserve-color"), (pc.MASKS, "masks")):
            for nick, label, sentence in table:
                if nick == c[key]:
                    lines.append(f"{label}: {sentence}")
        self.explain.set_text("\n".join(lines))
        self.regions_check.set_sensitive(c["masks"] == "auto")
        msg = pg.problem(self.image, self.drawables, c) or self.engine_error
        self.problem_label.set_markup(f"<b>{GLib.markup_escape_text(msg)}</b>" if msg else "")
        self.dlg.set_response_sensitive(Gtk.ResponseType.OK, not pg.problem(self.image, self.drawables, c))
        return msg

    # ------------------------------------------------------------------------------------------------ on the canvas
    def canvas_changed(self):
        if not (self.preview_check.get_active() or self.regions_check.get_active()):
            self.gen += 1
            self.remove_preview()
            self.status.set_text("")
            return
        self.schedule(now=True)

    def schedule(self, now=False):
        if not (self.preview_check.get_active() or self.regions_check.get_active()):
            return
        if self.timer:
            GLib.source_remove(self.timer)
        self.timer = GLib.timeout_add(50 if now else DEBOUNCE_MS, self.start_preview)

    def start_preview(self):
        self.timer = None
        c = self.choices()
        if self.source is None or pg.problem(self.image, self.drawables, c):
            return False
        regions = self.regions_check.get_active() and c["masks"] == "auto"
        try:
            if self.snap is None:
                self.snap = pg.Snapshot(self.image, self.source)
            reference, _ = pg.reference_for(c)
            settings = pg.settings_for(c, quality="preview")
            request = self.snap.request(reference, settings, c["masks"], "regions" if regions else "transfer")
        except pc.EngineError as exc:
            self.status.set_text(str(exc))
            return False
        self.gen += 1
        self.status.set_text("Preview: starting")
        threading.Thread(target=self.work, args=(self.gen, request, regions), daemon=True).start()
        return False

    def work(self, gen, request, regions):
        """The preview job, off GIMP's thread: only the engine is called here."""
        meter = pc.Progress()

        def progress(fraction, message):
            if gen != self.gen or self.closing:
                raise pc.Stopped()
            GLib.idle_add(self.progress, gen, meter.line(fraction, message))

        try:
            header, data = pc.run_engine(pc.load_config(), request, progress)
        except pc.Stopped:
            return
        except pc.EngineError as exc:
            GLib.idle_add(self.progress, gen, f"Preview failed: {exc}")
            return
        GLib.idle_add(self.arrived, gen, regions, header, data)

    def progress(self, gen, text):
        if gen == self.gen and not self.closing:
            self.status.set_text(text if text.startswith("Preview") else "Preview: " + text)
        return False

    def arrived(self, gen, regions, header, data):
        if gen != self.gen or self.closing or not pg.still_open(self.image, self.source):
            return False
        self.remove_preview()
        if not self.frozen:
            self.image.undo_freeze()  # the preview layer is no step of the image's history
            self.frozen = True
        if regions:
            self.preview_layer = pg.overlay_layer(self.image, self.source, self.snap, data, pg.PREVIEW_NAME)
            self.show_regions(header)
            conf = header.get("match_confidence")
            self.status.set_text(
                f"Regions shown on the canvas; match confidence {conf:.2f}." if conf is not None else "Regions shown."
            )
        else:
            self.preview_layer = pg.add_layer(self.image, self.source, self.snap, pg.PREVIEW_NAME, data, mark=False)
            self.status.set_text("Preview shown on the canvas (preview quality).")
        Gimp.displays_flush()
        return False

    def remove_preview(self):
        if self.preview_layer is not None and self.preview_layer.is_valid():
            self.image.remove_layer(self.preview_layer)
            Gimp.displays_flush()
        self.preview_layer = None

    # ------------------------------------------------------------------------------------------------ the regions
    def clear_regions(self):
        for child in self.regions_grid.get_children():
            self.regions_grid.remove(child)
        if self.choices()["region-strength"]:
            self.config.set_property("region-strength", "")

    def show_regions(self, header):
        for child in self.regions_grid.get_children():
            self.regions_grid.remove(child)
        strengths = pc.parse_region_strength(self.choices()["region-strength"])
        head = self.label("Region (takes its look from)", dim=True)
        self.regions_grid.attach(head, 0, 0, 1, 1)
        self.regions_grid.attach(self.label("Strength (%)", dim=True), 1, 0, 1, 1)
        for row, r in enumerate(header.get("regions", []), start=1):
            text = f"{r['id']} {r['name']} \u2190 {r['partner']} ({r['area_pct']:.0f} % of the photo)"
            self.regions_grid.attach(self.label(text), 0, row, 1, 1)
            scale = Gtk.Scale.new_with_range(Gtk.Orientation.HORIZONTAL, 0, 100, 5)
            scale.set_value(100 * strengths.get(int(r["id"]), 1.0))
            scale.set_size_request(160, -1)
            scale.set_tooltip_text(f"How much of the look region {r['id']} ({r['name']}) takes: 0-100 %")
            scale.connect("value-changed", self.region_strength_changed, int(r["id"]))
            self.regions_grid.attach(scale, 1, row, 1, 1)
        self.regions_grid.show_all()

    def region_strength_changed(self, scale, region_id):
        strengths = pc.parse_region_strength(self.choices()["region-strength"])
        value = round(scale.get_value()) / 100.0
        if value >= 1.0:
            strengths.pop(region_id, None)
        else:
            strengths[region_id] = value
        self.config.set_property("region-strength", json.dumps({str(k): v for k, v in sorted(strengths.items())}))

    # ------------------------------------------------------------------------------------------------ the run
    def run(self):
        while True:
            if not self.dlg.run():
                return self.procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
            c = self.choices()
            msg = pg.problem(self.image, self.drawables, c)
            self.remember()
            if msg:
                self.engine_error = ""
                self.update()
                continue
            self.closing = True  # stops a preview job
            self.gen += 1
            self.remove_preview()
            self.thaw()  # the result is one step of the image's history
            self.dlg.hide()
            outcome, detail = pg.attempt(self.image, self.source, c)
            if outcome == "error":
                self.closing = False
                self.engine_error = detail
                self.update()
                self.dlg.show()
                continue
            if outcome == "stopped":
                return self.procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
            return self.procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())

    def close(self):
        self.closing = True
        self.gen += 1
        if self.timer:
            GLib.source_remove(self.timer)
            self.timer = None
        if self.image.is_valid():
            self.remove_preview()
            self.thaw()
        self.dlg.destroy()

    def thaw(self):
        if self.frozen and self.image.is_valid():
            self.image.undo_thaw()
        self.frozen = False

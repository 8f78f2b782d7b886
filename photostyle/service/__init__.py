"""The engine as a local service for the GIMP plug-in (and any other local client).

GIMP's bundled Python cannot import torch, so the plug-in sends pixels here and gets the styled pixels back.
The service:

- listens on 127.0.0.1 only (a random free port by default) and refuses any peer outside loopback and any request
  that carries a browser ``Origin`` header;
- wants ``Authorization: Bearer TOKEN`` on every request; the token is random, made at start and written with the
  port and process id to a service file only the user can read (``service_file()``; 0600 in a 0700 folder);
- keeps the VGG-19 model loaded between requests (it is loaded once, at start, in the background);
- runs one transfer at a time through ``photostyle.pipeline.transfer``, the CLI's entry point, and streams progress;
  when the client goes away (GIMP's Cancel closes the plug-in) the running transfer is stopped;
- answers every problem with JSON: ``{"ok": false, "error": "...", "type": "InputError"}``.

Wire format (shared by HTTP and the one-shot ``photostyle serve --once REQUEST RESPONSE`` fallback): one line of
JSON (the header) then the binary blobs it lists in ``"blobs": [[name, size], ...]``, back to back. The photo is
interleaved RGB of ``dtype`` u8, u16 or f32 (``byteorder`` little or big), so 16-bit and float images keep their
precision; the reference travels as its file's bytes (``reference_name`` gives the suffix), decoded here by
``imageio.read_image`` exactly as the CLI does; ``masks`` is "auto", "none" or "selection" (with a u8 ``mask`` blob
of the photo's size: the selection, whose pixels >= 128 form the target region). ``settings`` is the full settings
dict (``quality`` picks the CLI's preset; every other key is a ``Settings`` field). Optional, for clients that decode
the reference themselves (GIMP opens formats the engine does not, and images open in it): ``reference_image``
(width, height, dtype, byteorder) says the ``reference`` blob is interleaved RGB pixels, not a file. ``task``
"regions" (masks "auto") answers the automatic regions instead of a transfer: ``regions`` (id, name, partner, area,
confidence), ``match_confidence`` and an ``image`` blob, the photo tinted by region (u8 RGB); the ids are the ones
``region_strength`` names. Requests without these fields are answered as before.

POST /v1/transfer answers 200 with a stream of JSON lines ``{"progress": f, "message": m}`` (one at least every
half second) ending in the response header (``"ok": true`` and the ``image`` blob, or ``"ok": false`` and the error).
Requests that cannot start (bad token, bad header, unreadable reference, bad settings) get a 4xx JSON answer.
GET /v1/status tells the version, pid, model loads and jobs done; POST /v1/shutdown stops the service.

Modules: ``paths`` (the service file, process checks), ``protocol`` (the wire format, settings from a request, error
bodies), ``jobs`` (a request decoded into a Job and run; the Engine that keeps the model), ``http`` (the server, the
handler, the serve loop and the one-shot mode), ``install`` (the GIMP plug-in installer, which needs only ``paths``).
This package imports neither argparse nor the HTTP server: ``photostyle.service.http`` is imported by who needs it.
"""

from photostyle.service.paths import read_service_file, service_file
from photostyle.service.protocol import PROTOCOL, Cancelled, build_settings, error_body, pack, unpack

__all__ = [
    "PROTOCOL",
    "Cancelled",
    "build_settings",
    "error_body",
    "pack",
    "read_service_file",
    "service_file",
    "unpack",
]

"""Jobs built on the photostyle engine (the album job)."""

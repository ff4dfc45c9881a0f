"""Real images for the tests of the media store: made by Pillow, with or without EXIF and GPS."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112
CAMERA_OWNER = 0xA430  # CameraOwnerName
SECRET_OWNER = "Jeanne Martin"


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (40, 30), color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    """A plain image in `fmt` (PNG, JPEG, WEBP, GIF...)."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (64, 48), orientation: int = 1) -> bytes:
    """A JPEG whose EXIF holds a GPS position (Pau's town hall), a camera owner's name and an orientation."""
    image = Image.new("RGB", size, (20, 120, 200))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[CAMERA_OWNER] = SECRET_OWNER
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (43.0, 17.0, 42.0), 3: "W", 4: (0.0, 22.0, 12.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"shot at 12 rue Serviez")
    return out.getvalue()


def metadata_of(data: bytes) -> dict:
    """What an image carries besides its pixels: EXIF tags, the GPS block and Pillow's `info`."""
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        return {"exif": dict(exif), "gps": dict(exif.get_ifd(GPS_IFD)), "info": dict(image.info), "size": image.size}

#!/usr/bin/env python3
"""Generate the GeoTIFFs the raster tests and benchmarks read (Debian's python3-gdal), small on
disk: tiled, DEFLATE-compressed and sparse (blocks never written read as 0), so a 30000 x 30000
raster takes a few kB.

Planted objects are for the generated model yolo_dynamic.onnx (scripts/make_test_models.py):
its class-0 score is the mean of the red channel over the input region x 150..200, y 250..330,
and its box is x 96..256, y 128..448 (input pixels). Painting that region of the tile whose
top-left corner is (tx, ty) with 255 makes a class-0 detection at (tx+96, ty+128, tx+256,
ty+448); background (0, or 40) scores below the default confidence. Tiles of 640 with 20 %
overlap start at multiples of 512, so objects are planted at such corners.

    make_test_rasters.py --out DIR [--big N] [--mid N]

writes DIR/planted_<N>.tif (N x N, 3 x Byte, EPSG:32633, 0.5 m pixels), DIR/uint16_4band.tif,
DIR/nodata.tif, DIR/nogeo.tif (also as nogeo_striped.tif and nogeo.jp2), DIR/corrupt.tif and
DIR/rasters.json (what was planted where).
"""
import argparse
import json
import os

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
REGION = (150, 250, 200, 330)  # x0, y0, x1, y1 of the score region, tile pixels
BOX = (96, 128, 256, 448)
GT = (500000.0, 0.5, 0.0, 5000000.0, 0.0, -0.5)  # UTM 33N, 0.5 m pixels
CO = ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=DEFLATE", "SPARSE_OK=TRUE"]


def create(path, w, h, bands, dtype, georef=True, nodata=None):
    ds = gdal.GetDriverByName("GTiff").Create(path, w, h, bands, dtype, CO)
    if georef:
        ds.SetGeoTransform(GT)
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32633)
        ds.SetProjection(srs.ExportToWkt())
    if nodata is not None:
        for b in range(1, bands + 1):
            ds.GetRasterBand(b).SetNoDataValue(nodata)
    return ds


def fill(ds, value, x=0, y=0, w=None, h=None):
    w = w or ds.RasterXSize
    h = h or ds.RasterYSize
    for b in range(1, ds.RasterCount + 1):
        dt = np.uint16 if ds.GetRasterBand(b).DataType == gdal.GDT_UInt16 else np.uint8
        ds.GetRasterBand(b).WriteArray(np.full((h, w), value, dt), x, y)


def plant(ds, tx, ty, band=1, value=255):
    x0, y0, x1, y1 = REGION
    dt = np.uint16 if ds.GetRasterBand(band).DataType == gdal.GDT_UInt16 else np.uint8
    ds.GetRasterBand(band).WriteArray(np.full((y1 - y0, x1 - x0), value, dt), tx + x0, ty + y0)
    return [tx + BOX[0], ty + BOX[1], tx + BOX[2], ty + BOX[3]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--big", type=int, default=30000)
    ap.add_argument("--mid", type=int, default=12000)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    manifest = {"geotransform": GT, "crs": "EPSG:32633", "rasters": {}}

    for n in sorted({a.big, a.mid}):
        path = os.path.join(a.out, f"planted_{n}.tif")
        ds = create(path, n, n, 3, gdal.GDT_Byte)
        corners = [(1024, 1536), ((n // 512 - 19) * 512, (n // 512 - 9) * 512)]
        boxes = [plant(ds, tx, ty) for tx, ty in corners]
        ds = None
        manifest["rasters"][f"planted_{n}"] = {"file": path, "size": [n, n], "boxes": boxes}

    # 16-bit, 4 bands (B, G, R, NIR as a satellite product stores them): background 1000, the
    # object painted into band 3 only, so it is red with --bands 3,2,1 and absent with 1,2,3.
    path = os.path.join(a.out, "uint16_4band.tif")
    ds = create(path, 2048, 1024, 4, gdal.GDT_UInt16)
    fill(ds, 1000)
    box = plant(ds, 512, 0, band=3, value=4000)
    ds = None
    manifest["rasters"]["uint16_4band"] = {"file": path, "size": [2048, 1024], "boxes": [box]}

    # nodata 0 on the left: tiles entirely in x < 1024 have no data; background 40 elsewhere.
    path = os.path.join(a.out, "nodata.tif")
    ds = create(path, 2560, 640, 3, gdal.GDT_Byte, nodata=0)
    fill(ds, 40, 1024, 0, 2560 - 1024, 640)
    box = plant(ds, 1536, 0)
    ds = None
    manifest["rasters"]["nodata"] = {"file": path, "size": [2560, 640], "boxes": [box],
                                     "nodata_tiles_x": [0]}

    path = os.path.join(a.out, "nogeo.tif")
    ds = create(path, 1152, 640, 3, gdal.GDT_Byte, georef=False)
    box = plant(ds, 512, 0)
    ds = None
    manifest["rasters"]["nogeo"] = {"file": path, "size": [1152, 640], "boxes": [box]}

    # The same pixels as a striped (untiled) TIFF and, where GDAL has the driver, a lossless
    # JPEG2000: other layouts GDAL reads by window.
    path = os.path.join(a.out, "nogeo_striped.tif")
    gdal.Translate(path, os.path.join(a.out, "nogeo.tif"), creationOptions=["TILED=NO", "COMPRESS=LZW"])
    manifest["rasters"]["nogeo_striped"] = {"file": path, "size": [1152, 640], "boxes": [box]}
    if gdal.GetDriverByName("JP2OpenJPEG"):
        path = os.path.join(a.out, "nogeo.jp2")
        gdal.Translate(path, os.path.join(a.out, "nogeo.tif"), format="JP2OpenJPEG",
                       creationOptions=["REVERSIBLE=YES", "QUALITY=100"])
        manifest["rasters"]["nogeo_jp2"] = {"file": path, "size": [1152, 640], "boxes": [box]}

    # A TIFF cut short: the header and the start of its blocks, not the rest.
    src = os.path.join(a.out, "nogeo.tif")
    with open(src, "rb") as f:
        data = f.read()
    path = os.path.join(a.out, "corrupt.tif")
    with open(path, "wb") as f:
        f.write(data[: max(16, len(data) // 3)])
    manifest["rasters"]["corrupt"] = {"file": path}

    with open(os.path.join(a.out, "rasters.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote", ", ".join(sorted(manifest["rasters"])), "to", a.out)


if __name__ == "__main__":
    main()

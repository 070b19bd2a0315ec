"""Reads a TIFF with GDAL into .npy: python3 tiff_read.py IN.tif OUT.npy (shape (bands, rows, cols))."""
import sys

import numpy as np
from osgeo import gdal

gdal.UseExceptions()
ds = gdal.Open(sys.argv[1])
arr = np.stack([ds.GetRasterBand(i + 1).ReadAsArray() for i in range(ds.RasterCount)])
np.save(sys.argv[2], arr)

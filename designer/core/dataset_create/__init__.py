"""Create a dataset (NNC's "Create Dataset"): from a folder of images with one sub-folder per
class, or from a table with a header row. Both write ``train.csv`` and ``validation.csv`` in
Neural Network Console's format and a ``dataset.json`` with the class names and the
preprocessing (see designer.core.preprocessing) into a new folder, which appears only when the
creation is complete.

Each creation takes ``progress(done, total)`` and ``cancelled()`` so a window can run it on a
worker thread with a progress bar and a Cancel button.
"""
from designer.core.dataset_create.images import (ImageFolder, create_from_images, image_format,
                                                 scan_image_folder)
from designer.core.dataset_create.output import TRAIN_FILE, VALIDATION_FILE, Created
from designer.core.dataset_create.table import (TASKS, BadCell, ColumnInfo, Table, TableError,
                                                create_from_table, read_table, table_columns)

__all__ = ["BadCell", "ColumnInfo", "Created", "ImageFolder", "TASKS", "TRAIN_FILE", "Table",
           "TableError", "VALIDATION_FILE", "create_from_images", "create_from_table",
           "image_format", "read_table", "scan_image_folder", "table_columns"]

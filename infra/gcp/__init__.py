"""The Google Cloud deployment: Terraform in this folder, fed by definitions.json.

`python -m infra.gcp` writes definitions.json from functions/catalog.py (Terraform cannot read
Python); `python -m infra.gcp --check` fails when the checked-in file is out of date.
"""

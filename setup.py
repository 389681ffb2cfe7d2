# The import package `wikibot_auth` has its root at src/ (see pyproject's
# package-dir); its subpackages are found, never listed by hand.
from setuptools import find_packages, setup

setup(packages=["wikibot_auth", *(f"wikibot_auth.{p}" for p in find_packages("src"))])

from gradfit._version import __version__

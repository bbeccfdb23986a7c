"""The development CA (``make_dev_ca``) and the trust store layout; see README.md here."""

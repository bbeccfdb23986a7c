"""edXML (QCVN 102:2016): official documents and their status messages, read as they stream,
built conformant, validated against the hub's own XSD, and signed (``signature``)."""

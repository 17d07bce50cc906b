"""Image decoding and face geometry shared by the gateway and every test."""

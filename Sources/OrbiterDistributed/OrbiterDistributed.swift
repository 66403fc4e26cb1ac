// OrbiterDistributed: see the module's files.

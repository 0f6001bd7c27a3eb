DROP TABLE token_bindings_archive;

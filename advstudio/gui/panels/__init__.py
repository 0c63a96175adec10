"""One module per panel; each panel shows a frozen dataclass through set_data()."""

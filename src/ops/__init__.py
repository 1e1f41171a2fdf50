"""Operations around a TorchServe: start and stop one (``ops.serve``), roll a new archive onto a
fleet (``ops.deploy``), and check a freshly built archive end to end (``ops.smoke``)."""

"""HTTP controllers, one package per audience. They parse, authorize and render; nothing more."""

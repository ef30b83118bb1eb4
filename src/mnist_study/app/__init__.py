"""The app: people's own images classified (predict) and drawn (the demo); nothing imports it."""

"""The day store: a window's raw instances by China day, and the files between the assets."""

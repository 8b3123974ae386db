"""Raw Yida instances into a form's rows and rejects, a window a batch of days at a time."""

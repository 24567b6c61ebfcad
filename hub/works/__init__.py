"""Works: finished images published (or drafted) from rooms, "My images" or uploads, with their
prompt, parameters, contributors and the prompt's edit history; the feeds that list them."""

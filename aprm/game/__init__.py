"""The adversarial game: optimizers, rewards, replay buffer, generator G, APRM and Adv-RM rounds."""

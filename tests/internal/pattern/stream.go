package pattern

// A stream is a sequence of messages every peer computes alike from a
// seed and the channel's largest message (tests/peers/PROTOCOL.md,
// "Streams"): lengths from 0 to the largest, each message's content a
// pattern of its own, so that a message lost, repeated, reordered,
// truncated or torn shows as a wrong length or a wrong byte.

// StreamLen is the length of message i of a stream on a channel whose
// largest message is max: 0 every 16th message, max the one after, and
// lengths spread over 0..max in between (7919 is prime, so they vary).
func StreamLen(i int, max uint64) int {
	switch i % 16 {
	case 0:
		return 0
	case 1:
		return int(max)
	}
	return int(uint64(i) * 7919 % (max + 1))
}

// StreamRecipe is the content of message i of the stream seed: the
// pattern of seed+i, so that neighbours differ.
func StreamRecipe(seed byte, i int) Recipe { return Recipe{Seed: seed + byte(i)} }

// StreamBytes is the payload of the first n messages of a stream: what
// `streamed` and `drained` print.
func StreamBytes(n int, max uint64) int {
	total := 0
	for i := range n {
		total += StreamLen(i, max)
	}
	return total
}

"""The curated topics a space may carry (up to 3), as ``GET /v1/topics`` lists them.

A fixed list, not free text: discovery (search, trending) filters by exact topic, which
only works when everyone picks from the same words, and nothing here can be abused to show
other people arbitrary text. Ids are stable (stored on spaces, used in filters); labels are
what apps show and may change. Add a topic by appending; never rename or remove an id that
spaces carry.
"""

from __future__ import annotations

TOPICS: tuple[tuple[str, str], ...] = (
    ("tech", "Technology"),
    ("ai", "AI"),
    ("crypto", "Crypto"),
    ("science", "Science"),
    ("business", "Business"),
    ("finance", "Finance"),
    ("startups", "Startups"),
    ("news", "News"),
    ("politics", "Politics"),
    ("music", "Music"),
    ("sports", "Sports"),
    ("gaming", "Gaming"),
    ("comedy", "Comedy"),
    ("movies", "Movies & TV"),
    ("books", "Books"),
    ("art", "Art & Design"),
    ("fashion", "Fashion"),
    ("food", "Food & Drink"),
    ("travel", "Travel"),
    ("health", "Health & Fitness"),
    ("wellness", "Mental Health"),
    ("education", "Education"),
    ("careers", "Careers"),
    ("parenting", "Parenting"),
    ("relationships", "Relationships"),
    ("religion", "Faith & Spirituality"),
    ("culture", "Culture"),
    ("languages", "Languages"),
    ("nature", "Nature & Animals"),
    ("local", "Local"),
    ("q-and-a", "Q&A"),
    ("chill", "Hanging out"),
)
TOPIC_IDS = frozenset(topic_id for topic_id, _ in TOPICS)
MAX_TOPICS_PER_SPACE = 3

"""Action class names of the supported datasets, index i = 0-based label i.

NTU RGB+D 120 (A1..A120; NTU RGB+D 60 is A1..A60) uses the dataset's official action list,
lower-cased, with one typo fixed: A67 "hush (quite)" -> "hush (quiet)". The side
information released with the paper keys NTU classes by shorter names ("brush teeth",
"capitulate" for A95 "hands up (both hands)"); those match by position, not by string.
PKU-MMD phase I (labels 1..51) uses the dataset's official names, which are the NTU names
of the shared actions plus "bow", "put something inside pocket" and "take out something
from pocket". UTD-MHAD (actions 1..27) uses the dataset's descriptions.
"""

import re

NTU120_CLASSES = (
    # A1..A10
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop",
    "pickup", "throw", "sitting down", "standing up (from sitting position)", "clapping",
    # A11..A20
    "reading", "writing", "tear up paper", "wear jacket", "take off jacket",
    "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    # A21..A30
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone",
    "playing with phone/tablet", "typing on a keyboard",
    # A31..A40
    "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute",
    "put the palms together", "cross hands in front (say stop)",
    # A41..A50 (A50..A60 are two-person interactions)
    "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person",
    # A51..A60
    "kicking other person", "pushing other person", "pat on back of other person",
    "point finger at the other person", "hugging other person", "giving something to other person",
    "touch other person's pocket", "handshaking", "walking towards each other",
    "walking apart from each other",
    # A61..A70 (NTU RGB+D 120 only from here on)
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball",
    "tennis bat swing", "juggling table tennis balls", "hush (quiet)", "flick hair",
    "thumb up", "thumb down",
    # A71..A80
    "make ok sign", "make victory sign", "staple book", "counting money", "cutting nails",
    "cutting paper (using scissors)", "snapping fingers", "open bottle", "sniff (smell)",
    "squat down",
    # A81..A90
    "toss a coin", "fold paper", "ball up paper", "play magic cube", "apply cream on face",
    "apply cream on hand back", "put on bag", "take off bag", "put something into a bag",
    "take something out of a bag",
    # A91..A100
    "open a box", "move heavy objects", "shake fist", "throw up cap/hat", "hands up (both hands)",
    "cross arms", "arm circles", "arm swings", "running on the spot", "butt kicks (kick backward)",
    # A101..A110 (A106..A120 are two-person interactions)
    "cross toe touch", "side kick", "yawn", "stretch oneself", "blow nose",
    "hit other person with something", "wield knife towards other person",
    "knock over other person (hit with body)", "grab other person's stuff",
    "shoot at other person with a gun",
    # A111..A120
    "step on foot", "high-five", "cheers and drink", "carry something with other person",
    "take a photo of other person", "follow other person", "whisper in other person's ear",
    "exchange things with other person", "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)

NTU60_CLASSES = NTU120_CLASSES[:60]

PKU51_CLASSES = (
    # labels 1..10
    "bow", "brushing hair", "brushing teeth", "check time (from watch)", "cheer up",
    "clapping", "cross hands in front (say stop)", "drink water", "drop", "eat meal/snack",
    # 11..20
    "falling", "giving something to other person", "hand waving", "handshaking",
    "hopping (one foot jumping)", "hugging other person", "jump up", "kicking other person",
    "kicking something", "make a phone call/answer phone",
    # 21..30
    "pat on back of other person", "pickup", "playing with phone/tablet",
    "point finger at the other person", "pointing to something with finger",
    "punching/slapping other person", "pushing other person", "put on a hat/cap",
    "put something inside pocket", "reading",
    # 31..40
    "rub two hands together", "salute", "sitting down", "standing up", "take off a hat/cap",
    "take off glasses", "take off jacket", "take out something from pocket", "taking a selfie",
    "tear up paper",
    # 41..51
    "throw", "touch back (backache)", "touch chest (stomachache/heart pain)",
    "touch head (headache)", "touch neck (neckache)", "typing on a keyboard",
    "use a fan (with hand or paper)/feeling warm", "wear jacket", "wear on glasses", "wipe face",
    "writing",
)

UTD27_CLASSES = (
    # actions 1..9
    "right arm swipe to the left", "right arm swipe to the right", "right hand wave",
    "two hand front clap", "right arm throw", "cross arms in the chest", "basketball shoot",
    "right hand draw x", "right hand draw circle (clockwise)",
    # 10..18
    "right hand draw circle (counter clockwise)", "draw triangle", "bowling (right hand)",
    "front boxing", "baseball swing from right", "tennis right hand forehand swing",
    "arm curl (two arms)", "tennis serve", "two hand push",
    # 19..27
    "right hand knock on door", "right hand catch an object", "right hand pick up and throw",
    "jogging in place", "walking in place", "sit to stand", "stand to sit",
    "forward lunge (left foot forward)", "squat (two arms stretch out)",
)


def normalise_class_name(name: str) -> str:
    """The key class names match by: lower case, '_' and '-' as spaces, runs of spaces as one."""
    return " ".join(re.sub(r"[_-]", " ", name.lower()).split())

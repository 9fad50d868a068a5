"""Built-in texts for ``mobilebert-edge profile`` when no file is given: movie reviews of realistic lengths.

Written for this project (no third-party text). Medium first (the one the cold-start run predicts),
then short and long ones; the long ones exceed 256 tokens, so they exercise truncation and the
widest batches a 256-token bundle sees.
"""

from __future__ import annotations

MEDIUM = [
    "I went in expecting a routine thriller and came out pleasantly surprised. The first half builds "
    "slowly, letting us get to know a tired night-shift nurse and the odd patient who keeps asking for "
    "her by name. The mystery itself is simple, but the two leads play off each other so well that the "
    "quiet hospital scenes are more gripping than the chase at the end. The ending is a little too neat, "
    "yet I would happily watch it again.",
    "A frustrating film. The premise, a small fishing town that votes to ban the internet for a year, "
    "is clever, and a few early scenes are genuinely funny. Then the script runs out of ideas: characters "
    "repeat the same arguments, a romance appears out of nowhere, and the big town meeting that should be "
    "the climax is played for cheap laughs. Good cast, weak writing, far too long at two hours.",
    "My kids and I watched this on a rainy Sunday and all three of us loved it. The animation is bright "
    "without being noisy, the songs are short, and the little robot who collects lost buttons has more "
    "personality than most live-action heroes. There is a sad moment in the middle that made my youngest "
    "cry, but it is handled gently. Recommended for families.",
]

SHORT = [
    "Loved it. Funny, warm and beautifully shot.",
    "Two hours I will never get back.",
    "The acting was fine but the story went nowhere, and the ending made no sense at all.",
]

LONG = [
    "I have been waiting for this adaptation since the book came out, and I am sorry to say it left me "
    "cold. Let me start with what works. The production design is gorgeous: the old observatory on the "
    "hill, the crowded market in the rain, the tiny flat above the bakery all feel lived in, and the "
    "cinematographer clearly loves the city at dusk. The score is restrained and never tells you what to "
    "feel. The supporting cast, especially the grandmother and the boy who sells newspapers, give warm, "
    "precise performances that deserved a better film around them. Now the problems. The novel spends "
    "three hundred pages inside the head of its narrator, and the film tries to solve this with a "
    "voice-over that explains every glance and every silence. Scenes that should breathe are cut short so "
    "the narrator can tell us what they meant. The middle act compresses two years into a montage, so the "
    "friendship at the heart of the story never has time to grow, and when it breaks, the moment has no "
    "weight. The lead is miscast: he is charming, but he plays a shy, awkward man as a confident one, and "
    "the whole arc of the character disappears. The final twenty minutes add an invented subplot about a "
    "stolen painting that the book never needed. I left the cinema admiring the craft and feeling nothing "
    "at all, which is the worst thing I can say about a story that once made me cry on a train.",
    "What a pleasant surprise this turned out to be. I picked it almost at random on a long flight, "
    "expecting a forgettable comedy, and ended up watching it twice. The story follows a retired "
    "schoolteacher who signs up, by mistake, for a cooking competition meant for professional chefs. "
    "That sounds like a sketch stretched to feature length, and in lesser hands it would be, but the "
    "script keeps finding new angles. She is not secretly a genius; she burns things, she panics, she "
    "argues with the judges, and she slowly earns the respect of the young chefs around her by being "
    "curious and kind rather than brilliant. The lead actress is wonderful, dry and sharp, and she never "
    "asks for our pity. The young chef who first mocks her and then becomes her fiercest ally has a quiet "
    "arc of his own that pays off in the final round. The film is also genuinely funny: a scene involving "
    "a collapsing meringue and a fire alarm had me laughing out loud in a silent cabin. If I had to "
    "complain, the subplot about her estranged son is underwritten and resolved in a single phone call, "
    "and the music is sometimes too sweet. But these are small things. It is generous, clever and full of "
    "good food, and I would recommend it to anyone who needs two hours of kindness.",
    "This is one of those films that confuses length with depth. It runs close to three hours, and I "
    "could feel every minute of it. The story, about a family of vineyard owners fighting over an "
    "inheritance during one hot summer, has the makings of a good drama: old grudges, a secret about the "
    "father, a failing harvest, a buyer from the city circling like a hawk. But the director seems more "
    "interested in long, silent shots of grapes and sunsets than in the people. Characters walk slowly "
    "through fields, stare at the horizon, and say very little, and when they do speak, the dialogue is "
    "so stiff that the actors appear to be reading it for the first time. The youngest sister, who should "
    "be the heart of the film, is given nothing to do except look worried. The big revelation about the "
    "father arrives in the last half hour, is explained in a single monologue, and changes nothing about "
    "how anyone behaves. There are a few beautiful images, and the scene of the storm destroying the "
    "harvest is impressive, but beauty alone does not hold a story together. I wanted to care about this "
    "family, and the film kept holding me at arm's length. By the end I was checking my watch and "
    "wondering why nobody simply sold the vineyard in the first act.",
]

SAMPLES = MEDIUM + SHORT + LONG

"""The starter exercise library: common rehabilitation and conditioning exercises with the
movements they load, so precautions can refuse the ones a patient must avoid.

Seeded by ``plans.demo`` (and editable afterwards by managers and clinicians). Each entry:
(slug, name, body region, category, movement tags, instructions).
"""

from plans.models import BodyRegion as R
from plans.models import Exercise
from plans.models import MovementTag as T

C = Exercise.Category

EXERCISES: list[tuple[str, str, str, str, list[str], str]] = [
    # Knee and hip
    (
        "quad-sets",
        "Quadriceps sets",
        R.KNEE,
        C.STRENGTH,
        [],
        "Sit with the leg straight and a small rolled towel under the knee. Tighten the front of "
        "the thigh so the knee presses into the towel, hold, then relax fully between repetitions.",
    ),
    (
        "straight-leg-raise",
        "Straight leg raise",
        R.KNEE,
        C.STRENGTH,
        [],
        "Lie on your back with the other knee bent. Lock the straight knee by tightening the "
        "thigh, lift the leg to the height of the bent knee, pause, and lower it slowly.",
    ),
    (
        "heel-slides",
        "Heel slides",
        R.KNEE,
        C.MOBILITY,
        [],
        "Lying on your back, slide the heel towards your buttock as far as is comfortable, pause, "
        "then slide it back out until the knee is straight.",
    ),
    (
        "terminal-knee-extension",
        "Terminal knee extension with band",
        R.KNEE,
        C.STRENGTH,
        [],
        "Stand with a band looped behind the knee and anchored in front of you. Start with the "
        "knee slightly bent and straighten it fully against the band, then ease back.",
    ),
    (
        "mini-squat",
        "Mini squat",
        R.KNEE,
        C.STRENGTH,
        [],
        "Stand with feet hip-width apart holding a counter for balance. Bend the knees a quarter "
        "of the way down, keeping them over your toes, then stand tall again.",
    ),
    (
        "deep-goblet-squat",
        "Goblet squat to full depth",
        R.KNEE,
        C.STRENGTH,
        [T.DEEP_KNEE_FLEXION, T.HIP_FLEXION_PAST_90],
        "Hold a weight at your chest, sit down between your heels as low as you can control with "
        "a long spine, then drive up through the whole foot.",
    ),
    (
        "forward-lunge",
        "Forward lunge",
        R.KNEE,
        C.STRENGTH,
        [T.DEEP_KNEE_FLEXION, T.SINGLE_LEG_LOADING],
        "Step forward and lower the back knee towards the floor, keeping the front knee over the "
        "foot. Push back to standing and change sides.",
    ),
    (
        "step-up",
        "Step-up",
        R.KNEE,
        C.STRENGTH,
        [T.SINGLE_LEG_LOADING],
        "Place one foot on a low step and stand up onto it without pushing off the lower foot. "
        "Step down slowly with control.",
    ),
    (
        "wall-sit",
        "Wall sit",
        R.KNEE,
        C.STRENGTH,
        [],
        "Lean your back against a wall and slide down until the knees are bent no more than a "
        "right angle. Hold the position while breathing normally, then slide up.",
    ),
    (
        "glute-bridge",
        "Glute bridge",
        R.HIP,
        C.STRENGTH,
        [],
        "Lie on your back with knees bent and feet flat. Squeeze the buttocks and lift the hips "
        "until the body forms a straight line from shoulders to knees, then lower slowly.",
    ),
    (
        "clamshell",
        "Clamshell",
        R.HIP,
        C.STRENGTH,
        [],
        "Lie on your side with hips and knees bent and heels together. Open the top knee like a "
        "shell without rolling the pelvis back, then close it slowly.",
    ),
    (
        "side-lying-hip-abduction",
        "Side-lying hip abduction",
        R.HIP,
        C.STRENGTH,
        [],
        "Lie on your side with the bottom knee bent. Lift the straight top leg slightly behind "
        "the body, toes pointing forward, and lower it without letting it touch down.",
    ),
    (
        "hip-flexor-stretch",
        "Kneeling hip flexor stretch",
        R.HIP,
        C.STRETCH,
        [T.SPINAL_EXTENSION],
        "Kneel on one knee with the other foot in front. Tuck the tail under and shift forward "
        "until you feel a stretch at the front of the kneeling hip.",
    ),
    (
        "hamstring-stretch-supine",
        "Hamstring stretch with strap",
        R.HIP,
        C.STRETCH,
        [T.HIP_FLEXION_PAST_90],
        "Lie on your back with a strap around one foot. Raise the straight leg until you feel a "
        "gentle pull behind the thigh and hold; keep the other leg relaxed on the floor.",
    ),
    (
        "calf-raise",
        "Calf raise",
        R.ANKLE_FOOT,
        C.STRENGTH,
        [],
        "Stand holding a counter and rise onto the balls of both feet, pause at the top, then "
        "lower the heels slowly to the floor.",
    ),
    (
        "ankle-alphabet",
        "Ankle alphabet",
        R.ANKLE_FOOT,
        C.MOBILITY,
        [],
        "Sit with the leg supported and the foot free. Trace the letters of the alphabet in the "
        "air with your big toe, moving only at the ankle.",
    ),
    (
        "calf-stretch-wall",
        "Calf stretch at the wall",
        R.ANKLE_FOOT,
        C.STRETCH,
        [],
        "Hands on a wall, one foot back with the heel down and knee straight. Lean forward until "
        "the back calf stretches and hold without bouncing.",
    ),
    (
        "single-leg-stance",
        "Single-leg stance",
        R.ANKLE_FOOT,
        C.BALANCE,
        [T.SINGLE_LEG_LOADING],
        "Stand near a counter and lift one foot. Balance on the other leg with a soft knee; touch "
        "the counter only when you need to.",
    ),
    (
        "tandem-walk",
        "Heel-to-toe walk",
        R.WHOLE_BODY,
        C.BALANCE,
        [],
        "Walk along a hallway placing the heel of each foot directly in front of the toes of the "
        "other, eyes forward, with a wall within reach.",
    ),
    (
        "box-jump",
        "Box jump",
        R.WHOLE_BODY,
        C.STRENGTH,
        [T.IMPACT, T.DEEP_KNEE_FLEXION],
        "Stand in front of a sturdy low box, swing the arms and jump up landing softly with both "
        "feet, then step down rather than jumping back.",
    ),
    # Spine and core
    (
        "pelvic-tilt",
        "Pelvic tilt",
        R.LUMBAR_SPINE,
        C.MOBILITY,
        [],
        "Lie on your back with knees bent. Gently flatten the low back into the floor by tipping "
        "the pelvis, then let it return to a small arch.",
    ),
    (
        "cat-camel",
        "Cat-camel",
        R.LUMBAR_SPINE,
        C.MOBILITY,
        [T.SPINAL_EXTENSION],
        "On hands and knees, slowly round the back up towards the ceiling, then let it sag "
        "gently while lifting the head. Move through the range without forcing the ends.",
    ),
    (
        "bird-dog",
        "Bird dog",
        R.CORE,
        C.STRENGTH,
        [],
        "On hands and knees with a neutral spine, reach one arm forward and the opposite leg back "
        "without letting the trunk twist. Hold briefly and change sides.",
    ),
    (
        "dead-bug",
        "Dead bug",
        R.CORE,
        C.STRENGTH,
        [],
        "Lie on your back with arms up and hips and knees bent at right angles. Lower one arm and "
        "the opposite leg towards the floor while keeping the low back still, then return.",
    ),
    (
        "side-plank-knees",
        "Side plank from the knees",
        R.CORE,
        C.STRENGTH,
        [],
        "Lie on your side propped on the forearm with knees bent. Lift the hips so the body is "
        "straight from head to knees and hold, breathing steadily.",
    ),
    (
        "front-plank",
        "Front plank",
        R.CORE,
        C.STRENGTH,
        [T.BREATH_HOLDING],
        "Support yourself on forearms and toes with the body in one straight line. Hold without "
        "letting the hips sag or pike, and keep breathing.",
    ),
    (
        "sit-up",
        "Sit-up",
        R.CORE,
        C.STRENGTH,
        [T.LOADED_SPINAL_FLEXION, T.HIP_FLEXION_PAST_90],
        "Lie on your back with knees bent, curl the trunk up until you are sitting, then roll "
        "back down one segment at a time.",
    ),
    (
        "deadlift",
        "Barbell deadlift",
        R.LUMBAR_SPINE,
        C.STRENGTH,
        [T.LOADED_SPINAL_FLEXION, T.BREATH_HOLDING],
        "With the bar over the middle of the feet, hinge at the hips, grip it and stand up by "
        "driving through the legs, keeping the bar close to the body.",
    ),
    (
        "russian-twist",
        "Weighted Russian twist",
        R.CORE,
        C.STRENGTH,
        [T.LOADED_SPINAL_FLEXION, T.SPINAL_ROTATION],
        "Sit leaning back with feet lifted and a weight in both hands; rotate the trunk to touch "
        "the weight beside each hip in turn.",
    ),
    (
        "prone-press-up",
        "Prone press-up",
        R.LUMBAR_SPINE,
        C.MOBILITY,
        [T.SPINAL_EXTENSION],
        "Lie face down with hands under the shoulders. Straighten the arms to lift the chest while "
        "the hips stay on the floor, then lower slowly.",
    ),
    (
        "open-book",
        "Open book rotation",
        R.THORACIC_SPINE,
        C.MOBILITY,
        [T.SPINAL_ROTATION],
        "Lie on your side with knees bent and arms together in front. Open the top arm across to "
        "the other side, following the hand with your eyes, then close it again.",
    ),
    (
        "chin-tuck",
        "Chin tuck",
        R.NECK,
        C.MOBILITY,
        [],
        "Sit tall and glide the head straight back, making a gentle double chin without tipping "
        "the head down. Hold briefly and release.",
    ),
    (
        "upper-trap-stretch",
        "Upper trapezius stretch",
        R.NECK,
        C.STRETCH,
        [],
        "Sitting tall, tip the ear towards the shoulder and let the opposite shoulder drop until "
        "you feel a gentle stretch along the side of the neck.",
    ),
    # Shoulder and arm
    (
        "pendulum",
        "Pendulum swings",
        R.SHOULDER,
        C.MOBILITY,
        [],
        "Lean forward supported on a table and let the sore arm hang. Rock the body so the arm "
        "swings in small circles and lines without using its muscles.",
    ),
    (
        "wall-slide",
        "Wall slide",
        R.SHOULDER,
        C.MOBILITY,
        [],
        "Face a wall with the little-finger side of the forearms on it. Slide the arms up as far "
        "as comfortable while keeping the shoulders down, then slide back.",
    ),
    (
        "band-external-rotation",
        "External rotation with band",
        R.SHOULDER,
        C.STRENGTH,
        [],
        "Elbow at your side bent to a right angle, hold a band anchored across your body. Turn "
        "the forearm outwards a short way without the elbow leaving your side.",
    ),
    (
        "sleeper-stretch",
        "Sleeper stretch",
        R.SHOULDER,
        C.STRETCH,
        [T.END_RANGE_SHOULDER_ROTATION],
        "Lie on the affected side with the arm in front at shoulder height and elbow bent. Use "
        "the other hand to press the forearm gently down towards the floor.",
    ),
    (
        "band-row",
        "Seated row with band",
        R.THORACIC_SPINE,
        C.STRENGTH,
        [],
        "Sit tall with a band around the feet. Pull the handles towards your ribs, squeezing the "
        "shoulder blades together, and return slowly.",
    ),
    (
        "overhead-press",
        "Dumbbell overhead press",
        R.SHOULDER,
        C.STRENGTH,
        [T.OVERHEAD_PRESSING],
        "Stand with dumbbells at shoulder height and press them straight overhead without arching "
        "the low back, then lower with control.",
    ),
    (
        "wall-push-up",
        "Wall push-up",
        R.SHOULDER,
        C.STRENGTH,
        [],
        "Stand an arm's length from a wall with hands on it at chest height. Bend the elbows to "
        "bring the chest towards the wall and push back.",
    ),
    (
        "push-up",
        "Push-up",
        R.SHOULDER,
        C.STRENGTH,
        [T.LOADED_WRIST_EXTENSION],
        "Hands under the shoulders and body straight, lower the chest towards the floor and push "
        "back up. Drop to the knees to make it easier.",
    ),
    (
        "wrist-flexor-stretch",
        "Wrist flexor stretch",
        R.WRIST_HAND,
        C.STRETCH,
        [],
        "Hold the arm straight in front, palm up, and use the other hand to ease the fingers "
        "down and back until the forearm stretches.",
    ),
    (
        "eccentric-wrist-extension",
        "Eccentric wrist extension",
        R.ELBOW,
        C.STRENGTH,
        [],
        "Forearm supported, palm down, holding a light weight. Help the wrist up with the other "
        "hand, then lower it slowly on its own.",
    ),
    # Cardio
    (
        "stationary-bike",
        "Stationary bike",
        R.WHOLE_BODY,
        C.CARDIO,
        [],
        "Set the saddle so the knee is slightly bent at the bottom of the stroke. Pedal at an "
        "easy to moderate effort where you could still hold a conversation.",
    ),
    (
        "brisk-walk",
        "Brisk walk",
        R.WHOLE_BODY,
        C.CARDIO,
        [],
        "Walk at a pace that makes you breathe faster but still lets you talk, on level ground "
        "at first.",
    ),
    (
        "jogging",
        "Jogging",
        R.WHOLE_BODY,
        C.CARDIO,
        [T.IMPACT, T.SINGLE_LEG_LOADING],
        "Run at an easy pace with short quick steps, landing softly under the body. Walk for a "
        "minute whenever you need to.",
    ),
    (
        "burpee",
        "Burpee",
        R.WHOLE_BODY,
        C.CARDIO,
        [T.IMPACT, T.FLOOR_TRANSFERS, T.LOADED_WRIST_EXTENSION],
        "From standing, squat, place the hands down, jump the feet back into a plank, jump them "
        "forward again and stand up with a small jump.",
    ),
]

import numpy as np, pickle, json, time, sys
from mpnet import embed
D='/work/shared/toolmmbench/'
cat=[json.loads(l) for l in open(D+'catalog.jsonl')]
def stext(c):
    s=f"{c['id'].replace('/',' ').replace('-',' ').replace('_',' ')} {c['task'].replace('-',' ')} {c['summary']}"
    if c.get('tags'): s+=' '+' '.join(c['tags'])
    if c.get('languages'): s+=' '+' '.join(c['languages'])
    return s
trn,dev,te=pickle.load(open('split.pkl','rb'))
z=np.load('split.npz'); ytr=z['ytr']
sel=[]; cnt={}
for i,y in enumerate(ytr):
    if cnt.get(y,0)<10: sel.append(i); cnt[y]=cnt.get(y,0)+1
out={}
for nm,texts in [('cards',[stext(c) for c in cat]),('test',[x['ins'] for x in te]),('dev',[x['ins'] for x in dev]),('trsub',[trn[i]['ins'] for i in sel])]:
    t=time.time(); out[nm]=embed(texts); print(nm,len(texts),time.time()-t,flush=True)
    np.savez('mpnet_emb.npz',sel=np.array(sel),**out)

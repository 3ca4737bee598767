import os
exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'store.py')).read())
import collections, time
rng=np.random.default_rng(0)
tr=items('train_synth.json')+items('train_audio.json')+items('train_video.json'); te=items('test.json')
def stext(c):
    s=f"{c['id'].replace('/',' ').replace('-',' ').replace('_',' ')} {c['task'].replace('-',' ')} {c['summary']}"
    if c.get('tags'): s+=' '+' '.join(c['tags'])
    if c.get('languages'): s+=' '+' '.join(c['languages'])
    return s
Ec,okc=emb([stext(c) for c in cat]); print('cards embedded',okc.mean())
uniq=sorted(set(x['ins'] for x in tr)); dev_set=set(u for u in uniq if rng.random()<0.1)
trn=[x for x in tr if x['ins'] not in dev_set]; dev=[x for x in tr if x['ins'] in dev_set]
print(len(trn),len(dev))
Xtr,_=emb([x['ins'] for x in trn]); ytr=np.array([idx_of[x['ans'][0]] for x in trn])
Xdv,_=emb([x['ins'] for x in dev]); Xte,_=emb([x['ins'] for x in te])
N=len(ids)
def acc(S,xs,k=1):
    top=np.argsort(-S,1)[:,:k]
    return np.mean([any(ids[j] in x['ans'] for j in t) for t,x in zip(top,xs)])
# centroid baseline
C=np.zeros((N,384)); cnt=np.zeros(N)
for v,y in zip(Xtr,ytr): C[y]+=v; cnt[y]+=1
C=C/np.maximum(cnt,1)[:,None]; C/=np.maximum(np.linalg.norm(C,axis=1,keepdims=True),1e-9)
T=0.3*Ec+0.7*C; T/=np.linalg.norm(T,axis=1,keepdims=True)
for nm,X,xs in [('dev',Xdv,dev),('test',Xte,te)]:
    S=X@T.T; print('centroid',nm,acc(S,xs),acc(S,xs,5))
np.savez('split.npz',Xtr=Xtr,ytr=ytr,Xdv=Xdv,Xte=Xte,Ec=Ec,T=T)
import pickle; pickle.dump((trn,dev,te),open('split.pkl','wb'))
